package token

import (
	"context"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
)

// clientCredentials is the client_credentials grant (RFC 6749 §4.4): an
// application authenticates and gets an access token for itself, no
// refresh token. The hot path of machine traffic: the client lookup, the
// secret's HMAC, the signature are memory work, and its audit is the
// per-minute summary, so a token costs no disk work of its own.
type clientCredentials struct {
	clients *clientAuth
	limit   *keyed // tokens.client_credentials_per_second per client; nil: unlimited
	sign    *signer
	summary *summaries
}

func (g clientCredentials) issue(ctx context.Context, r *Request) (*Issued, error) {
	if r.ClientID == "" {
		return nil, fmt.Errorf("token: %w: clientId and clientSecret (or a client certificate) are required", api.ErrMissingFields)
	}
	cl, err := g.clients.authenticate(ctx, r)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return nil, errNoClient
	}
	if g.limit != nil {
		if err := g.limit.take(cl.ClientID); err != nil {
			return nil, err
		}
	}
	at, kid, err := g.sign.accessToken(Claims{Subject: cl.ClientID, ClientID: cl.ClientID, Type: TypeApplication,
		Name: cl.Name, DisplayName: cl.Name, TenantID: cl.TenantID, TenantSlug: cl.TenantSlug, Cnf: thumbprint(r.Cert),
		SecretCreated: cl.SecretCreated})
	if err != nil {
		return nil, err
	}
	g.summary.add(cl.ClientID, r.Source, kid)
	return &Issued{Access: at, ExpiresIn: int64(g.sign.ttl.Seconds())}, nil
}

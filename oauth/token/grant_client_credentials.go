package token

import (
	"fmt"

	"github.com/accessd/accessd/oauth/api"
)

// clientCredentials is the client_credentials grant (RFC 6749 §4.4): an
// application authenticates and gets an access token for itself, no
// refresh token. The hot path of machine traffic: the client lookup, the
// secret's HMAC, the signature are memory work, and its audit is the
// per-minute summary, so a token costs no disk work of its own.
type clientCredentials struct{ s *Server }

func (g clientCredentials) issue(r *tokenRequest) (*issued, error) {
	s := g.s
	if r.clientID == "" {
		return nil, fmt.Errorf("token: %w: clientId and clientSecret (or a client certificate) are required", api.ErrMissingFields)
	}
	cl, err := s.client(r)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return nil, errNoClient
	}
	if l := s.limits.clientCredentials; l != nil {
		if err := l.take(cl.ClientID); err != nil {
			return nil, err
		}
	}
	at, kid, err := s.accessToken(Claims{Subject: cl.ClientID, ClientID: cl.ClientID, Type: TypeApplication,
		Name: cl.Name, DisplayName: cl.Name, TenantID: cl.TenantID, TenantSlug: cl.TenantSlug, Cnf: thumbprint(r.cert)})
	if err != nil {
		return nil, err
	}
	s.summary.add(cl.ClientID, r.source, kid)
	return &issued{access: at, expiresIn: int64(s.cfg.AccessTTL.Seconds())}, nil
}

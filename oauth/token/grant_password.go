package token

import (
	"context"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
)

// passwordGrant is the resource-owner password grant (RFC 6749 §4.3), the
// way people sign in through Lerian's console and lib-auth: rate-limited
// per username and address, counted toward lockout, answered with an
// MFA challenge instead of tokens when the user has a second factor.
// Without client credentials the token's client is tokens.default_client.
type passwordGrant struct {
	clients       *clientAuth
	limits        *limits
	login         SignInService
	mfa           *mfaSessions
	sign          *signer
	tokens        *userTokens
	defaultClient string
}

func (g passwordGrant) issue(ctx context.Context, r *Request) (*Issued, error) {
	if r.Username == "" || len(r.Password) == 0 {
		return nil, fmt.Errorf("token: %w: username and password are required", api.ErrMissingFields)
	}
	if err := checkNonce(r.Nonce); err != nil {
		return nil, err
	}
	clientID := g.defaultClient
	cl, err := g.clients.authenticate(ctx, r)
	switch {
	case err != nil:
		return nil, err
	case cl != nil:
		clientID = cl.ClientID
	case r.ClientID != "" && r.ClientID != g.defaultClient:
		return nil, errNoClient
	}
	// One budget per account, whether it is named by username or address.
	if err := g.limits.password(g.login.AttemptKey(r.Username), r.Source); err != nil {
		return nil, err
	}
	a := change.Actor{Name: "client:" + clientID, Source: r.Source}
	si, err := g.login.SignIn(ctx, a, r.Username, r.Password)
	if err != nil {
		return nil, err
	}
	if si.SecondFactorDue {
		tok, err := g.sign.randomToken("mfa_")
		if err != nil {
			return nil, err
		}
		if err := g.mfa.open(tok, g.sign.now(), si.User.ID, clientID, r.Nonce, r.Cert); err != nil {
			return nil, err
		}
		return &Issued{MFAToken: tok, MFATTL: int64(mfaTTL.Seconds()), MFATypes: si.MFATypes}, nil
	}
	return g.tokens.issue(ctx, si.User, clientID, r.Nonce, r.Cert, "password", r.Source)
}

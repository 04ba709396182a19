package token

import (
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
)

// passwordGrant is the resource-owner password grant (RFC 6749 §4.3), the
// way people sign in through Lerian's console and lib-auth: rate-limited
// per username and address, counted toward lockout, answered with an
// MFA challenge instead of tokens when the user has a second factor.
// Without client credentials the token's client is tokens.default_client.
type passwordGrant struct{ s *Server }

func (g passwordGrant) issue(r *tokenRequest) (*issued, error) {
	s := g.s
	if r.username == "" || len(r.password) == 0 {
		return nil, fmt.Errorf("token: %w: username and password are required", api.ErrMissingFields)
	}
	if err := checkNonce(r.nonce); err != nil {
		return nil, err
	}
	clientID := s.cfg.DefaultClient
	cl, err := s.client(r)
	switch {
	case err != nil:
		return nil, err
	case cl != nil:
		clientID = cl.ClientID
	case r.clientID != "" && r.clientID != s.cfg.DefaultClient:
		return nil, errNoClient
	}
	// One budget per account, whether it is named by username or address.
	if err := s.limits.password(s.id.AttemptKey(r.username), r.source); err != nil {
		return nil, err
	}
	a := identity.Actor{Name: "client:" + clientID, Source: r.source}
	si, err := s.id.SignIn(r.ctx, a, r.username, r.password)
	if err != nil {
		return nil, err
	}
	if si.SecondFactorDue {
		tok, err := s.mfa.open(s, si.User.ID, clientID, r.nonce, r.cert)
		if err != nil {
			return nil, err
		}
		return &issued{mfaToken: tok, mfaTTL: int64(mfaTTL.Seconds()), mfaTypes: si.MFATypes}, nil
	}
	return s.userTokens(r.ctx, si.User, clientID, r.nonce, r.cert, "password", r.source)
}

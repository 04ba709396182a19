package token

import (
	"errors"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// refreshGrant is the refresh_token grant with rotation on every use
// (RFC 9700 §4.14.2): the presented token is spent and a new one of the
// same family returned. A spent token presented again is a replay: the
// whole family is revoked, so a stolen refresh token and the legitimate
// one cannot both go on. Tokens are stored only as keyed hashes.
//
// Lerian's JSON face sends only refreshToken, so the refresh token is the
// credential; client credentials, when sent, must match the family's
// client.
type refreshGrant struct{ s *Server }

var errReplay = errors.New("refresh token replayed")

func badRefresh(why string) error {
	return fmt.Errorf("token: %w: the refresh token is invalid, expired or revoked (%s); sign in again", api.ErrBadRefresh, why)
}

func (g refreshGrant) issue(r *tokenRequest) (*issued, error) {
	s := g.s
	if r.refreshToken == "" {
		return nil, fmt.Errorf("token: %w: refreshToken is required", api.ErrMissingFields)
	}
	cl, err := s.client(r)
	if err != nil {
		return nil, err
	}
	hash := s.refreshHash(r.refreshToken)
	f, err := s.st.RefreshFamilies().GetByTokenHash(hash)
	if errors.Is(err, store.ErrNotFound) {
		s.record(r.ctx, "token.refresh", "client:"+r.clientID, "unknown-token", "failed", r.source, nil)
		return nil, badRefresh("unknown")
	} else if err != nil {
		return nil, fmt.Errorf("token: find refresh family: %w", err)
	}
	if cl != nil && cl.ClientID != f.ClientID {
		s.record(r.ctx, "token.refresh", "app:"+cl.ClientID, "refresh-family:"+f.ID, "wrong-client", r.source, nil)
		return nil, badRefresh("issued to another client")
	}
	next, err := s.randomToken(refreshPrefix)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var why string
	f, err = s.st.RefreshFamilies().Update(f.ID, func(f store.RefreshFamily) (store.RefreshFamily, error) {
		why = ""
		switch {
		case f.Revoked:
			why = "revoked"
		case !equalHash(f.CurrentHash, hash):
			f.Revoked = true // a replay: end the family, and commit that
			why = "replayed"
			return f, nil
		case !f.ExpiresAt.After(now):
			why = "expired"
		case !s.id.TokenValid(f.Subject, f.CreatedAt):
			why = "signed out"
		}
		if why != "" {
			return f, errReplay
		}
		f.CurrentHash = s.refreshHash(next)
		f.ExpiresAt = now.Add(s.cfg.RefreshTTL.Duration)
		return f, nil
	})
	if why != "" && (err == nil || errors.Is(err, errReplay)) {
		if why == "replayed" {
			s.metrics.revocations.Inc()
			s.log.Warn("spent refresh token presented again; its family is revoked", "event", "token.refresh_replay", "family", f.ID, "subject", f.Subject)
		}
		s.record(r.ctx, "token.refresh", "user:"+f.Subject, "refresh-family:"+f.ID, why, r.source, nil)
		return nil, badRefresh(why)
	}
	if err != nil {
		return nil, fmt.Errorf("token: rotate refresh token: %w", err)
	}
	u, err := s.st.Users().Get(f.Subject)
	if err != nil || u.Disabled || !s.subjects.Has(u.ID) {
		s.record(r.ctx, "token.refresh", "user:"+f.Subject, "refresh-family:"+f.ID, "no-user", r.source, nil)
		return nil, badRefresh("the user is gone or disabled")
	}
	at, kid, err := s.accessToken(Claims{Subject: u.ID, ClientID: f.ClientID, Type: TypeUser, Name: u.Username,
		AuthTime: f.AuthTime.Unix(), SessionID: f.ID, Cnf: thumbprint(r.cert)})
	if err != nil {
		return nil, err
	}
	s.record(r.ctx, "token.refresh", "user:"+u.ID, "refresh-family:"+f.ID, "ok", r.source, map[string]string{"kid": kid})
	return &issued{access: at, expiresIn: int64(s.cfg.AccessTTL.Seconds()), refresh: next}, nil
}

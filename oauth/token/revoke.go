package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessd/accessd/store"
)

// revocations is the in-memory copy of the revoked jtis, read on every
// verification; the store keeps them across restarts until the tokens
// would have expired.
type revocations struct {
	mu sync.RWMutex
	m  map[string]time.Time // jti -> token expiry
	// swept is the latest time (Unix seconds) revocations were swept up
	// to: a token expiring by then may have lost its revocation, so it is
	// expired whatever the clock says afterwards (a clock set back cannot
	// revive it).
	swept atomic.Int64
}

func (r *revocations) load(st *store.Store, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m = map[string]time.Time{}
	err := st.RevokedTokens().Scan(func(t store.RevokedToken) (bool, error) {
		if t.ExpiresAt.After(now) {
			r.m[t.JTI] = t.ExpiresAt
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("token: load revocations: %w", err)
	}
	swept, err := st.RevokedTokens().SweptUpTo()
	if err != nil {
		return fmt.Errorf("token: load revocations: %w", err)
	}
	if !swept.IsZero() {
		r.swept.Store(swept.Unix())
	}
	return nil
}

func (r *revocations) has(jti string) bool {
	r.mu.RLock()
	_, ok := r.m[jti]
	r.mu.RUnlock()
	return ok
}

func (r *revocations) add(jti string, exp time.Time) {
	r.mu.Lock()
	r.m[jti] = exp
	r.mu.Unlock()
}

func (r *revocations) forgetExpired(now time.Time) {
	if now.Unix() > r.swept.Load() {
		r.swept.Store(now.Unix())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for j, exp := range r.m {
		if !exp.After(now) {
			delete(r.m, j)
		}
	}
}

// revokeAccess revokes an access token by its jti, durably, then in
// memory. Revoking twice is not an error.
func (s *Server) revokeAccess(c *Claims) error {
	exp := time.Unix(c.Expiry, 0)
	_, err := s.st.RevokedTokens().Create(store.RevokedToken{JTI: c.ID, ExpiresAt: exp})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("token: revoke access token: %w", err)
	}
	s.revoked.add(c.ID, exp)
	return nil
}

// revokeFamily ends a refresh family (logout, RFC 7009, replay).
func (s *Server) revokeFamily(id string) error {
	_, err := s.st.RefreshFamilies().Update(id, func(f store.RefreshFamily) (store.RefreshFamily, error) {
		f.Revoked = true
		return f, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token: revoke refresh family: %w", err)
	}
	return nil
}

// Introspection is RFC 7662's answer.
type Introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Username  string        `json:"username,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Exp       int64         `json:"exp,omitempty"`
	Iat       int64         `json:"iat,omitempty"`
	Nbf       int64         `json:"nbf,omitempty"`
	Sub       string        `json:"sub,omitempty"`
	Aud       []string      `json:"aud,omitempty"`
	Iss       string        `json:"iss,omitempty"`
	Jti       string        `json:"jti,omitempty"`
	Type      string        `json:"type,omitempty"`
	Owner     string        `json:"owner,omitempty"`
	Cnf       *Confirmation `json:"cnf,omitempty"`
}

// Introspect answers for an access or refresh token (RFC 7662). The
// caller has authenticated the client. An invalid token is simply
// inactive.
func (s *Server) Introspect(tok, hint string) Introspection {
	if strings.HasPrefix(tok, refreshPrefix) {
		f, ok := s.liveFamily(tok)
		if !ok {
			return Introspection{}
		}
		return Introspection{Active: true, ClientID: f.ClientID, Sub: f.Subject, TokenType: "refresh_token",
			Exp: f.ExpiresAt.Unix(), Iss: s.issuer, Owner: s.owner, Type: TypeUser}
	}
	p, err := s.Verify(tok)
	if err != nil {
		return Introspection{}
	}
	c := p.Claims
	out := Introspection{Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer", Exp: c.Expiry,
		Iat: c.IssuedAt, Nbf: c.NotBefore, Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer, Jti: c.ID,
		Type: c.Type, Owner: c.Owner, Cnf: c.Cnf}
	if p.User() {
		out.Username = c.Name
	}
	return out
}

// liveFamily finds the family whose current token tok is, if usable.
func (s *Server) liveFamily(tok string) (store.RefreshFamily, bool) {
	f, err := s.st.RefreshFamilies().GetByTokenHash(s.refreshHash(tok))
	if err != nil || f.Revoked || !f.ExpiresAt.After(s.now()) || !equalHash(f.CurrentHash, s.refreshHash(tok)) {
		return store.RefreshFamily{}, false
	}
	return f, true
}

// Revoke is RFC 7009 for an authenticated client: a token it was issued
// is revoked (an access token by jti, a refresh token with its whole
// family); anything else (unknown, invalid, another client's) changes
// nothing and is not an error, so the answer reveals nothing.
func (s *Server) Revoke(ctx context.Context, clientID, tok, source string) error {
	if strings.HasPrefix(tok, refreshPrefix) {
		f, err := s.st.RefreshFamilies().GetByTokenHash(s.refreshHash(tok))
		if err != nil || f.ClientID != clientID {
			return nil
		}
		if err := s.revokeFamily(f.ID); err != nil {
			return err
		}
		s.metrics.revocations.Inc()
		s.record(ctx, "token.revoke", "app:"+clientID, "refresh-family:"+f.ID, "ok", source, nil)
		return nil
	}
	c, err := s.keys.parse(tok)
	if err != nil || c.Issuer != s.issuer || c.ClientID != clientID || c.Expiry <= s.now().Unix() {
		return nil
	}
	if err := s.revokeAccess(c); err != nil {
		return err
	}
	s.metrics.revocations.Inc()
	s.record(ctx, "token.revoke", "app:"+clientID, "jti:"+c.ID, "ok", source, nil)
	return nil
}

// Logout ends the session of a verified bearer: its access token is
// revoked and, for a user, the refresh family it came from.
func (s *Server) Logout(ctx context.Context, p Principal, source string) error {
	if err := s.revokeAccess(p.Claims); err != nil {
		return err
	}
	if p.Claims.SessionID != "" {
		if err := s.revokeFamily(p.Claims.SessionID); err != nil {
			return err
		}
	}
	s.metrics.revocations.Inc()
	s.record(ctx, "token.logout", p.Actor(source).Name, "jti:"+p.Claims.ID, "ok", source, nil)
	return nil
}

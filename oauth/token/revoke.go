package token

import (
	"fmt"
	"slices"
	"strconv"
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

// revocationStore keeps the revoked jtis across restarts; *store.Store provides it.
type revocationStore interface {
	RevokedTokens() *store.RevokedTokenRepo
}

func (r *revocations) load(st revocationStore, now time.Time) error {
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

// Introspector is the authenticated client of an introspection request.
type Introspector struct {
	ClientID string
	// Any: the client holds the introspect permission, and may read the
	// claims of every token.
	Any bool
}

// Introspect answers for an access or refresh token (RFC 7662), and
// counts the answer. An invalid token is simply inactive, and so is a
// token the asking client may not read (RFC 7662 §4 leaves that policy
// to the server): its claims are answered only to the client it was
// issued to, a client its audience names, or a client holding the
// introspect permission.
func (s *Server) Introspect(by Introspector, tok, hint string) Introspection {
	out := s.introspect(tok)
	if out.Active && !by.Any && out.ClientID != by.ClientID && !slices.Contains(out.Aud, by.ClientID) {
		out = Introspection{}
	}
	s.metrics.introspect.WithLabelValues(strconv.FormatBool(out.Active)).Inc()
	return out
}

func (s *Server) introspect(tok string) Introspection {
	if strings.HasPrefix(tok, refreshPrefix) {
		f, ok := s.revoker.liveFamily(tok)
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

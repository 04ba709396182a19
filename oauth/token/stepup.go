package token

import (
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/login"
)

// amrOf is the RFC 8176 methods a grant's sign-in passed: a password
// alone, or a password and a one-time code (TOTP, an e-mailed or texted
// code, or a recovery code).
func amrOf(grant string) []string {
	if grant == "password+mfa" {
		return []string{login.AMRPassword, login.AMROTP}
	}
	return []string{login.AMRPassword}
}

// WithSession gives a user bearer's actor its client and its sign-in, as
// the token's refresh family recorded them (never as the token claims
// them, and never renewed by a refresh). A family that is gone or
// revoked leaves Session nil: such a bearer may read, but not mint
// credentials or change its factors.
func (s *Server) WithSession(a change.Actor, p Principal) change.Actor {
	a.ClientID = p.Claims.ClientID
	if !p.User() || p.Claims.SessionID == "" {
		return a
	}
	f, err := s.families.Get(p.Claims.SessionID)
	if err != nil || f.Revoked || f.Subject != p.SubjectID || !f.ExpiresAt.After(s.now()) {
		return a
	}
	a.Session = &change.Session{ID: f.ID, AuthTime: f.AuthTime, AMR: append([]string(nil), f.AMR...)}
	return a
}

package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessd/accessd/store"
)

// Revoker ends tokens and sessions before they expire: RFC 7009
// revocation by a client, logout by a bearer or by an ID token hint,
// and the refresh grant's replay. An access token is revoked by its jti
// (durably, then in the in-memory list every verification reads), a
// refresh token with its whole family.
type Revoker struct {
	issuer       string
	keys         *Keys
	families     familyStore
	revokedStore revokedStore
	revoked      *revocations
	hash         refreshHasher
	metrics      *Metrics
	audit        recorder
	now          func() time.Time
}

// revokedStore keeps revoked jtis across restarts.
type revokedStore interface {
	Create(t store.RevokedToken) (store.RevokedToken, error)
}

// revokeAccess revokes an access token by its jti, durably, then in
// memory. Revoking twice is not an error.
func (v *Revoker) revokeAccess(c *Claims) error {
	exp := time.Unix(c.Expiry, 0)
	_, err := v.revokedStore.Create(store.RevokedToken{JTI: c.ID, ExpiresAt: exp})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("token: revoke access token: %w", err)
	}
	v.revoked.add(c.ID, exp)
	return nil
}

// revokeFamily ends a refresh family (logout, RFC 7009, replay).
func (v *Revoker) revokeFamily(id string) error {
	_, err := v.families.Update(id, func(f store.RefreshFamily) (store.RefreshFamily, error) {
		f.Revoked = true
		return f, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token: revoke refresh family: %w", err)
	}
	return nil
}

// liveFamily finds the family whose current token tok is, if usable.
func (v *Revoker) liveFamily(tok string) (store.RefreshFamily, bool) {
	f, err := v.families.GetByTokenHash(v.hash(tok))
	if err != nil || f.Revoked || !f.ExpiresAt.After(v.now()) || !equalHash(f.CurrentHash, v.hash(tok)) {
		return store.RefreshFamily{}, false
	}
	return f, true
}

// Revoke is RFC 7009 for an authenticated client: a token it was issued
// is revoked (an access token by jti, a refresh token with its whole
// family); anything else (unknown, invalid, another client's) changes
// nothing and is not an error, so the answer reveals nothing.
func (v *Revoker) Revoke(ctx context.Context, clientID, tok, source string) error {
	if strings.HasPrefix(tok, refreshPrefix) {
		f, err := v.families.GetByTokenHash(v.hash(tok))
		if err != nil || f.ClientID != clientID {
			return nil
		}
		if err := v.revokeFamily(f.ID); err != nil {
			return err
		}
		v.metrics.revocations.Inc()
		v.audit.record(ctx, "token.revoke", "app:"+clientID, "refresh-family:"+f.ID, "ok", source, nil)
		return nil
	}
	c, err := v.keys.parse(tok)
	if err != nil || c.Issuer != v.issuer || c.ClientID != clientID || c.Expiry <= v.now().Unix() {
		return nil
	}
	if err := v.revokeAccess(c); err != nil {
		return err
	}
	v.metrics.revocations.Inc()
	v.audit.record(ctx, "token.revoke", "app:"+clientID, "jti:"+c.ID, "ok", source, nil)
	return nil
}

// Logout ends the session of a verified bearer: its access token is
// revoked and, for a user, the refresh family it came from.
func (v *Revoker) Logout(ctx context.Context, p Principal, source string) error {
	if err := v.revokeAccess(p.Claims); err != nil {
		return err
	}
	if p.Claims.SessionID != "" {
		if err := v.revokeFamily(p.Claims.SessionID); err != nil {
			return err
		}
	}
	v.metrics.revocations.Inc()
	v.audit.record(ctx, "token.logout", p.Actor(source).Name, "jti:"+p.Claims.ID, "ok", source, nil)
	return nil
}

// LogoutIDToken ends the session an ID token of accessd names (Lerian's
// console sends its ID token as id_token_hint): the signature, issuer
// and subject must check out, and the session must be the subject'v.
// An expired ID token still names its session (OpenID Connect
// RP-Initiated Logout accepts one); it can only end that session. The
// access tokens of the session run out on their own.
func (v *Revoker) LogoutIDToken(ctx context.Context, tok, source string) error {
	payload, err := v.keys.verifyCompact(tok, "JWT")
	if err != nil {
		return err
	}
	var c IDClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	if c.Issuer != v.issuer || c.SessionID == "" {
		return errBadToken
	}
	f, err := v.families.Get(c.SessionID)
	if err != nil || f.Subject != c.Subject {
		return errBadToken
	}
	if err := v.revokeFamily(f.ID); err != nil {
		return err
	}
	v.metrics.revocations.Inc()
	v.audit.record(ctx, "token.logout", "user:"+c.Subject, "refresh-family:"+f.ID, "ok", source, map[string]string{"hint": "id_token"})
	return nil
}

package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
)

// signer mints what a grant hands out: signed access and ID tokens, and
// the random opaque credentials (refresh tokens, MFA challenges).
type signer struct {
	issuer, owner string
	ttl           time.Duration // of access and ID tokens
	keys          *Keys
	now           func() time.Time
	rand          io.Reader
}

// randomToken is an opaque credential: prefix and 256 random bits.
func (g *signer) randomToken(prefix string) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(g.rand, b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (g *signer) jti() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(g.rand, b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// accessToken fills in the claims every token has and signs them.
func (g *signer) accessToken(c Claims) (tok string, kid string, err error) {
	now := g.now()
	c.Issuer, c.Owner = g.issuer, g.owner
	c.IssuedAt, c.NotBefore = now.Unix(), now.Unix()
	c.Expiry = now.Add(g.ttl).Unix()
	if c.ID, err = g.jti(); err != nil {
		return "", "", err
	}
	c.AZP = c.ClientID
	c.Audience = []string{c.ClientID}
	return g.keys.sign(&c)
}

// idToken signs an ID token for u, issued to clientID, for the sign-in
// at authTime in session sid, with the client's nonce ("" for none). It
// lives as long as an access token.
func (g *signer) idToken(u store.User, clientID, nonce string, authTime time.Time, sid string) (string, error) {
	now := g.now()
	c := IDClaims{Issuer: g.issuer, Subject: u.ID, Audience: []string{clientID},
		Expiry: now.Add(g.ttl).Unix(), IssuedAt: now.Unix(), AuthTime: authTime.Unix(),
		Nonce: nonce, AZP: clientID, SessionID: sid, Name: displayName(u), PreferredUsername: u.Username,
		Email: u.Email, GivenName: u.FirstName, FamilyName: u.LastName, DisplayName: displayName(u),
		TenantID: u.TenantID, TenantSlug: u.TenantSlug}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	obj, err := g.keys.active.Load().idSigner.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: sign ID token: %w", err)
	}
	return obj.CompactSerialize()
}

// recorder writes the token layer's audit entries durably before the
// caller answers; a failure is logged, never shown to the caller.
type recorder struct {
	audit change.Recorder
	log   *slog.Logger
	now   func() time.Time
}

func (a recorder) record(ctx context.Context, typ, actor, target, result, source string, detail map[string]string) {
	change.Record(ctx, a.audit, a.log, store.AuditEntry{Time: a.now().UTC(), Type: typ, Actor: actor, Target: target,
		Result: result, Source: source, Detail: detail})
}

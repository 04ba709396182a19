package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/accessd/accessd/store"
)

// refreshPrefix marks accessd's refresh tokens, so introspection and
// revocation can tell them from JWTs without a lookup.
const refreshPrefix = "acr_"

// refreshHasher is the keyed hash refresh tokens are stored and found by.
type refreshHasher func(tok string) []byte

func equalHash(a, b []byte) bool { return hmac.Equal(a, b) }

// thumbprint is RFC 8705's x5t#S256 of a client certificate.
func thumbprint(cert *x509.Certificate) *Confirmation {
	if cert == nil {
		return nil
	}
	sum := sha256.Sum256(cert.Raw)
	return &Confirmation{X5tS256: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// familyCreator starts refresh families.
type familyCreator interface {
	Create(f store.RefreshFamily) (store.RefreshFamily, error)
}

// userTokens issues the tokens of a user who passed every factor: an
// access token, an ID token, and a refresh token of a new family; the
// password grant and MFA completion share it.
type userTokens struct {
	families   familyCreator
	hash       refreshHasher
	sign       *signer
	audit      recorder
	refreshTTL time.Duration
}

func (u *userTokens) issue(ctx context.Context, usr store.User, clientID, nonce string, cert *x509.Certificate, grant, source string) (*Issued, error) {
	now := u.sign.now().UTC()
	rt, err := u.sign.randomToken(refreshPrefix)
	if err != nil {
		return nil, err
	}
	amr := amrOf(grant)
	fam := store.RefreshFamily{Subject: usr.ID, ClientID: clientID,
		CurrentHash: u.hash(rt), AuthTime: now, AMR: amr, ExpiresAt: now.Add(u.refreshTTL)}
	if tp := thumbprint(cert); tp != nil {
		fam.CertThumbprint = tp.X5tS256 // the family's refresh tokens work only over this certificate
	}
	f, err := u.families.Create(fam)
	if err != nil {
		return nil, fmt.Errorf("token: store refresh family: %w", err)
	}
	at, kid, err := u.sign.accessToken(Claims{Subject: usr.ID, ClientID: clientID, Type: TypeUser, Name: usr.Username,
		DisplayName: displayName(usr), TenantID: usr.TenantID, TenantSlug: usr.TenantSlug,
		AuthTime: now.Unix(), AMR: amr, SessionID: f.ID, Cnf: thumbprint(cert)})
	if err != nil {
		return nil, err
	}
	idt, err := u.sign.idToken(usr, clientID, nonce, now, f.ID)
	if err != nil {
		return nil, err
	}
	u.audit.record(ctx, "token.issue", "user:"+usr.ID, "user:"+usr.ID, "ok", source, map[string]string{"grant": grant, "client": clientID, "kid": kid, "session": f.ID})
	return &Issued{Access: at, ExpiresIn: int64(u.sign.ttl.Seconds()), Refresh: rt, IDToken: idt}, nil
}

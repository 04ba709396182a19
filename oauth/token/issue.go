package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/accessd/accessd/store"
)

// refreshPrefix marks accessd's refresh tokens, so introspection and
// revocation can tell them from JWTs without a lookup.
const refreshPrefix = "acr_"

// issued is what a grant produced: tokens, or an MFA challenge.
type issued struct {
	access    string
	expiresIn int64
	refresh   string
	scope     string
	mfaToken  string
	mfaTTL    int64
	mfaTypes  []string
	idToken   string
}

func (s *Server) refreshHash(tok string) []byte { return s.st.Sum("refresh-token", []byte(tok)) }

func equalHash(a, b []byte) bool { return hmac.Equal(a, b) }

// thumbprint is RFC 8705's x5t#S256 of a client certificate.
func thumbprint(cert *x509.Certificate) *Confirmation {
	if cert == nil {
		return nil
	}
	sum := sha256.Sum256(cert.Raw)
	return &Confirmation{X5tS256: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// accessToken fills in the claims every token has and signs them.
func (s *Server) accessToken(c Claims) (tok string, kid string, err error) {
	now := s.now()
	c.Issuer, c.Owner = s.issuer, s.owner
	c.IssuedAt, c.NotBefore = now.Unix(), now.Unix()
	c.Expiry = now.Add(s.cfg.AccessTTL.Duration).Unix()
	if c.ID, err = s.jti(); err != nil {
		return "", "", err
	}
	c.AZP = c.ClientID
	c.Audience = []string{c.ClientID}
	return s.keys.sign(&c)
}

// userTokens issues an access token and a refresh token of a new family
// for a user who passed every factor.
func (s *Server) userTokens(ctx context.Context, u store.User, clientID, nonce string, cert *x509.Certificate, grant, source string) (*issued, error) {
	now := s.now().UTC()
	rt, err := s.randomToken(refreshPrefix)
	if err != nil {
		return nil, err
	}
	amr := amrOf(grant)
	fam := store.RefreshFamily{Subject: u.ID, ClientID: clientID,
		CurrentHash: s.refreshHash(rt), AuthTime: now, AMR: amr, ExpiresAt: now.Add(s.cfg.RefreshTTL.Duration)}
	if tp := thumbprint(cert); tp != nil {
		fam.CertThumbprint = tp.X5tS256 // the family's refresh tokens work only over this certificate
	}
	f, err := s.st.RefreshFamilies().Create(fam)
	if err != nil {
		return nil, fmt.Errorf("token: store refresh family: %w", err)
	}
	at, kid, err := s.accessToken(Claims{Subject: u.ID, ClientID: clientID, Type: TypeUser, Name: u.Username,
		DisplayName: displayName(u), TenantID: u.TenantID, TenantSlug: u.TenantSlug,
		AuthTime: now.Unix(), AMR: amr, SessionID: f.ID, Cnf: thumbprint(cert)})
	if err != nil {
		return nil, err
	}
	idt, err := s.idToken(u, clientID, nonce, now, f.ID)
	if err != nil {
		return nil, err
	}
	s.record(ctx, "token.issue", "user:"+u.ID, "user:"+u.ID, "ok", source, map[string]string{"grant": grant, "client": clientID, "kid": kid, "session": f.ID})
	return &issued{access: at, expiresIn: int64(s.cfg.AccessTTL.Seconds()), refresh: rt, idToken: idt}, nil
}

// sourceOf is the audit source of a request: its address.
func sourceOf(addr string) string { return addr }

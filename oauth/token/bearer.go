package token

import (
	"crypto/x509"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
)

// errNoToken is a call that presents no access token at all: Lerian's
// AUT-0006, apart from a token that is sent and refused (AUT-0401).
var errNoToken = fmt.Errorf("token: %w: send an access token in the Authorization header (Bearer)", api.ErrTokenMissing)

// Presented verifies a token its holder presents to accessd itself (the
// Identity routes, userinfo, permissions, logout), over the client
// certificate TLS verified (nil without one): besides Verify, a token
// bound to a client certificate (cnf.x5t#S256) must come over that
// certificate (RFC 8705 §3). /v1/authorize and introspection are asked
// by resource servers, which check the binding themselves.
func (s *Server) Presented(tok string, cert *x509.Certificate) (Principal, error) {
	p, err := s.Verify(tok)
	if err != nil {
		if tok == "" {
			return p, errNoToken
		}
		return p, err
	}
	if c := p.Claims.Cnf; c != nil {
		if tp := thumbprint(cert); tp == nil || tp.X5tS256 != c.X5tS256 {
			s.metrics.verifyFailed.WithLabelValues("binding").Inc()
			return Principal{}, errBadToken
		}
	}
	return p, nil
}

// UserInfo is OpenID Connect's userinfo of a presented user token.
func (s *Server) UserInfo(p Principal) (api.UserInfo, error) {
	if !p.User() {
		return api.UserInfo{}, fmt.Errorf("token: %w: userinfo is for user tokens; this is an application's", api.ErrForbidden)
	}
	u, err := s.users.Get(p.SubjectID)
	if err != nil {
		return api.UserInfo{}, errBadToken
	}
	return api.UserInfo{Sub: u.ID, Name: displayName(u), Email: u.Email, PreferredUsername: u.Username,
		GivenName: u.FirstName, FamilyName: u.LastName}, nil
}

// Discovery is RFC 8414's metadata (also served as OpenID's), naming only
// what this server does.
func (s *Server) Discovery() map[string]any {
	authMethods := []string{"client_secret_basic", "client_secret_post", "tls_client_auth"}
	return map[string]any{
		"issuer":                                s.issuer,
		"token_endpoint":                        s.issuer + "/oauth/token",
		"jwks_uri":                              s.issuer + "/.well-known/jwks.json",
		"introspection_endpoint":                s.issuer + "/oauth/introspect",
		"revocation_endpoint":                   s.issuer + "/oauth/revoke",
		"userinfo_endpoint":                     s.issuer + "/v1/userinfo",
		"grant_types_supported":                 []string{"client_credentials", "password", "refresh_token"},
		"response_types_supported":              []string{},
		"token_endpoint_auth_methods_supported": authMethods,
		"introspection_endpoint_auth_methods_supported": authMethods,
		"revocation_endpoint_auth_methods_supported":    authMethods,
		"tls_client_certificate_bound_access_tokens":    true,
		"access_token_signing_alg_values_supported":     []string{s.cfg.SigningAlg},
		// ID tokens come with the password grant and its refreshes.
		"id_token_signing_alg_values_supported": []string{s.cfg.SigningAlg},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      idTokenClaims,
	}
}

package token_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// idClaims is what a relying party reads from an ID token beyond the
// registered claims.
type idClaims struct {
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce"`
	AZP               string `json:"azp"`
	SID               string `json:"sid"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
	DisplayName       string `json:"displayName"`
}

// verifyIDToken verifies an ID token as an OpenID relying party does,
// with go-jose against the published JWKS: signature, alg, typ,
// issuer, audience and time.
func (e *env) verifyIDToken(t *testing.T, tok, alg, clientID string) (jwt.Claims, idClaims) {
	t.Helper()
	var set jose.JSONWebKeySet
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/.well-known/jwks.json", nil, nil, &set))
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	require.NoError(t, err, "the ID token is signed with the configured algorithm")
	h := parsed.Headers[0]
	require.Equal(t, "JWT", h.ExtraHeaders[jose.HeaderType], "typ JWT: not an access token")
	keys := set.Key(h.KeyID)
	require.Len(t, keys, 1, "the ID token's kid is published")
	var std jwt.Claims
	var extra idClaims
	require.NoError(t, parsed.Claims(keys[0].Key, &std, &extra), "the signature verifies against JWKS")
	require.NoError(t, std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{clientID}, Time: e.clock.Now()}, 0))
	return std, extra
}

// TestIDToken: the password grant answers with an ID token for the
// client, signed by the current key in each configured algorithm,
// carrying the nonce that was sent; access tokens carry displayName.
func TestIDToken(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			cfg := token.DefaultConfig()
			cfg.SigningAlg = alg
			e := newEnv(t, cfg)
			u, err := e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: "ana", Email: "Ana.Souza@Example.test",
				FirstName: "Ana", LastName: "Souza", Password: "velvet-Quarry-lamp-42"})
			require.NoError(t, err)
			// The console sends the e-mail address as the username.
			code, tok, _ := e.lerianToken(t, "/v1/login/oauth/access_token", api.TokenRequest{GrantType: "password",
				Username: "ana.souza@example.test", Password: "velvet-Quarry-lamp-42", Nonce: "n-0S6_WzA2Mj"})
			require.Equal(t, http.StatusOK, code)
			require.NotEmpty(t, tok.IDToken)
			std, c := e.verifyIDToken(t, tok.IDToken, alg, "lerian")
			require.Equal(t, u.ID, std.Subject)
			require.Equal(t, "n-0S6_WzA2Mj", c.Nonce)
			require.Equal(t, "lerian", c.AZP)
			require.Equal(t, e.clock.Now().Unix(), c.AuthTime)
			require.Equal(t, "Ana Souza", c.Name)
			require.Equal(t, "Ana Souza", c.DisplayName)
			require.Equal(t, "ana", c.PreferredUsername)
			require.Equal(t, "Ana.Souza@Example.test", c.Email)
			require.NotNil(t, std.Expiry)
			require.NotNil(t, std.IssuedAt)

			ah, claims := e.verifyAgainstJWKS(t, tok.AccessToken)
			require.Equal(t, "Ana Souza", claims["displayName"])
			parsed, err := jwt.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			require.NoError(t, err)
			require.Equal(t, ah.KeyID, parsed.Headers[0].KeyID, "the current signing key")
			require.Equal(t, c.SID, claims["sid"], "one session")

			// An ID token grants nothing: it is not accepted as a bearer.
			var fail api.Error
			require.Equal(t, http.StatusUnauthorized, e.do(t, "GET", "/v1/userinfo",
				map[string]string{"Authorization": "Bearer " + tok.IDToken}, nil, &fail))
			code, d := e.authorize(t, tok.IDToken, api.AuthorizeRequest{Sub: "lerian/" + u.ID, Resource: "ledgers", Action: "get", Product: "midaz"})
			require.False(t, code == http.StatusOK && d.Authorized, "an ID token must not pass a decision")

			// A refresh keeps the sign-in's auth_time and has no nonce.
			e.clock.Add(time.Minute)
			code, rt, _ := e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: tok.RefreshToken})
			require.Equal(t, http.StatusOK, code)
			_, rc := e.verifyIDToken(t, rt.IDToken, alg, "lerian")
			require.Equal(t, c.AuthTime, rc.AuthTime)
			require.Empty(t, rc.Nonce)
		})
	}
}

// TestIDTokenWithOAuth2Library: golang.org/x/oauth2's password grant at
// /oauth/token gets id_token, without a nonce when none was sent; a user
// without names has the username as displayName.
func TestIDTokenWithOAuth2Library(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	a := e.app(t, "console")
	_, err := e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: "bruno", Email: "bruno@example.test", Password: "copper-Meadow-fig-58"})
	require.NoError(t, err)
	c := context.WithValue(ctx(), oauth2.HTTPClient, e.hc)
	oc := oauth2.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret, Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/oauth/token"}}
	tok, err := oc.PasswordCredentialsToken(c, "BRUNO@example.test", "copper-Meadow-fig-58")
	require.NoError(t, err)
	idt, _ := tok.Extra("id_token").(string)
	require.NotEmpty(t, idt)
	_, ic := e.verifyIDToken(t, idt, "ES256", a.ClientID)
	require.Empty(t, ic.Nonce)
	require.Equal(t, "bruno", ic.DisplayName)
	_, claims := e.verifyAgainstJWKS(t, tok.AccessToken)
	require.Equal(t, "bruno", claims["displayName"])

	// Application tokens are named by the application.
	code, at, _ := e.lerianToken(t, "/v1/login/oauth/access_token", api.TokenRequest{GrantType: "client_credentials", ClientID: a.ClientID, ClientSecret: a.ClientSecret})
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, at.IDToken, "no ID token without a user")
	_, claims = e.verifyAgainstJWKS(t, at.AccessToken)
	require.Equal(t, "console", claims["displayName"])
}

// TestNonceChecked: a nonce that is not printable ASCII, or too long, is
// refused before the password is checked.
func TestNonceChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	e.user(t, "carla", "harbor-Violet-moss-61")
	for _, n := range []string{"has space", strings.Repeat("n", 256), "tab\there", "ünïcode"} {
		code, _, fail := e.lerianToken(t, "/v1/login/oauth/access_token", api.TokenRequest{GrantType: "password",
			Username: "carla", Password: "harbor-Violet-moss-61", Nonce: n})
		require.Equal(t, http.StatusBadRequest, code, n)
		require.Contains(t, fail.Message, "nonce")
	}
	var meta map[string]any
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/.well-known/openid-configuration", nil, nil, &meta))
	require.Equal(t, []any{"ES256"}, meta["id_token_signing_alg_values_supported"])
	require.Contains(t, meta["claims_supported"], "nonce")
}

// TestPasswordLimitPerAccount: the per-user password budget is the
// account's, whether it is named by username or by address.
func TestPasswordLimitPerAccount(t *testing.T) {
	t.Parallel()
	cfg := token.DefaultConfig()
	cfg.PasswordPerMinutePerUser = 2
	e := newEnv(t, cfg)
	e.user(t, "dario", "orchid-Canyon-bell-27")
	code, _, _ := e.passwordLogin(t, "dario", "orchid-Canyon-bell-27")
	require.Equal(t, http.StatusOK, code)
	code, _, _ = e.passwordLogin(t, "Dario@Example.test", "orchid-Canyon-bell-27")
	require.Equal(t, http.StatusOK, code)
	code, _, fail := e.passwordLogin(t, "dario@example.test", "orchid-Canyon-bell-27")
	require.Equal(t, http.StatusTooManyRequests, code, "the address spends the account's budget")
	require.Equal(t, "AUT-0429", fail.Code)
	code, _, _ = e.passwordLogin(t, "DARIO", "orchid-Canyon-bell-27")
	require.Equal(t, http.StatusTooManyRequests, code)
}

// TestTenantClaims: tokens of a user or an application with a tenant
// carry tenantId and tenantSlug; without one they carry neither.
func TestTenantClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	_, err := e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: "tina", Email: "tina@example.test",
		Password: "lantern-Rapid-owl-64", TenantID: "0193c1f2-aaaa-7bbb-8ccc-000000000001", TenantSlug: "acme"})
	require.NoError(t, err)
	code, tok, _ := e.passwordLogin(t, "tina@example.test", "lantern-Rapid-owl-64")
	require.Equal(t, http.StatusOK, code)
	_, claims := e.verifyAgainstJWKS(t, tok.AccessToken)
	require.Equal(t, "0193c1f2-aaaa-7bbb-8ccc-000000000001", claims["tenantId"])
	require.Equal(t, "acme", claims["tenantSlug"])
	_, idc := e.verifyAgainstJWKS(t, tok.IDToken)
	require.Equal(t, "acme", idc["tenantSlug"])

	a, err := e.id.Applications().CreateApplication(ctx(), admin, api.CreateApplicationRequest{Name: "plugin", TenantID: "t-9"})
	require.NoError(t, err)
	code, at, _ := e.lerianToken(t, "/v1/login/oauth/access_token", api.TokenRequest{GrantType: "client_credentials", ClientID: a.ClientID, ClientSecret: a.ClientSecret})
	require.Equal(t, http.StatusOK, code)
	_, claims = e.verifyAgainstJWKS(t, at.AccessToken)
	require.Equal(t, "t-9", claims["tenantId"])
	require.NotContains(t, claims, "tenantSlug")

	e.user(t, "nadia", "pebble-Frost-kite-12")
	code, tok, _ = e.passwordLogin(t, "nadia", "pebble-Frost-kite-12")
	require.Equal(t, http.StatusOK, code)
	_, claims = e.verifyAgainstJWKS(t, tok.AccessToken)
	require.NotContains(t, claims, "tenantId")
}

// TestLogoutWithIDTokenHint: the console's logout with its ID token as
// id_token_hint ends the session (its refresh token stops working); a
// tampered hint is refused.
func TestLogoutWithIDTokenHint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	e.user(t, "lia", "saffron-Delta-pine-37")
	code, tok, _ := e.passwordLogin(t, "lia", "saffron-Delta-pine-37")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, http.StatusBadRequest, e.postForm(t, "/v1/logout", [2]string{}, url.Values{"id_token_hint": {tok.IDToken + "x"}}, nil),
		"a tampered hint is refused")
	require.Equal(t, http.StatusNoContent, e.postForm(t, "/v1/logout", [2]string{}, url.Values{"id_token_hint": {tok.IDToken}}, nil))
	code, _, fail := e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: tok.RefreshToken})
	require.NotEqual(t, http.StatusOK, code, "the session ended")
	require.Equal(t, "AUT-1005", fail.Code)
}

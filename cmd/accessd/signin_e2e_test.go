package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/accessd/accessd/oauth/api"
)

// TestSignInByEmailIDTokenAndTenancy runs the console's sign-in against
// the real daemon: the e-mail address as the username (x/oauth2's
// password grant and Lerian's JSON), an ID token verified with go-jose
// against the published JWKS, an unknown address answered byte for
// byte like a wrong password; tenants set with accessctl, and a tenant's
// bearer seeing only its tenant on the data plane.
func TestSignInByEmailIDTokenAndTenancy(t *testing.T) {
	t.Parallel()
	d, sock, addr, _ := serveDev(t, "")
	ctl := buildAccessctl(t)
	run := func(stdin string, args ...string) ([]byte, string, error) {
		c := exec.Command(ctl, append([]string{"--socket", sock, "-o", "json"}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, err := c.Output()
		return out, stderr.String(), err
	}
	ctlJSON := func(v any, stdin string, args ...string) {
		t.Helper()
		out, stderr, err := run(stdin, args...)
		require.NoError(t, err, "accessctl %v: %s", args, stderr)
		if v != nil {
			require.NoError(t, json.Unmarshal(out, v), string(out))
		}
	}
	const pw = "amber-Falcon-river-73"
	var ana, u1, u2 api.CreatedUser
	ctlJSON(&ana, pw+"\n", "user", "create", "--username", "ana", "--email", "Ana.Admin@Acme.test", "--first-name", "Ana", "--last-name", "Admin",
		"--group", "identity-editor-group", "--tenant", "t-1:acme", "--password-stdin")
	require.Equal(t, "t-1", ana.TenantID)
	require.Equal(t, "acme", ana.TenantSlug)
	ctlJSON(&u1, "", "user", "create", "--username", "bia", "--email", "bia@acme.test", "--tenant", "t-1")
	ctlJSON(&u2, "", "user", "create", "--username", "caio", "--email", "caio@other.test", "--tenant", "t-2")

	// Addresses are unique ignoring case, and not another's username.
	_, stderr, err := run("", "user", "create", "--username", "dup", "--email", "ANA.ADMIN@acme.test")
	require.Error(t, err)
	require.Contains(t, stderr, "another account has this address")
	_, stderr, err = run("", "user", "create", "--username", "bia@acme.test", "--email", "x@acme.test")
	require.Error(t, err)
	require.Contains(t, stderr, "another account's e-mail address")

	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	base := "https://" + addr

	// x/oauth2's password grant with the address, as the default client.
	oc := oauth2.Config{ClientID: "lerian", Endpoint: oauth2.Endpoint{TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	octx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tok, err := oc.PasswordCredentialsToken(octx, "ana.admin@ACME.test", pw)
	require.NoError(t, err)
	claims := verifyJWKS(t, hc, base, tok.AccessToken)
	require.Equal(t, ana.ID, claims["sub"])
	require.Equal(t, "Ana Admin", claims["displayName"])
	require.Equal(t, "t-1", claims["tenantId"])
	require.Equal(t, "acme", claims["tenantSlug"])
	idt, _ := tok.Extra("id_token").(string)
	require.NotEmpty(t, idt)

	// Lerian's JSON, as the console sends it, with a nonce.
	post := func(body any) (int, []byte) {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		resp, err := hc.Post(base+"/v1/login/oauth/access_token", "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, out
	}
	code, raw := post(api.TokenRequest{GrantType: "password", Username: "Ana.Admin@Acme.test", Password: pw, Nonce: "e2e-nonce-4f1c"})
	require.Equal(t, http.StatusOK, code, string(raw))
	var lt api.TokenResponse
	require.NoError(t, json.Unmarshal(raw, &lt))

	var set jose.JSONWebKeySet
	resp, err := hc.Get(base + "/.well-known/jwks.json")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	resp.Body.Close()
	for _, tc := range []struct{ tok, nonce string }{{idt, ""}, {lt.IDToken, "e2e-nonce-4f1c"}} {
		parsed, err := jwt.ParseSigned(tc.tok, []jose.SignatureAlgorithm{jose.ES256})
		require.NoError(t, err)
		keys := set.Key(parsed.Headers[0].KeyID)
		require.Len(t, keys, 1)
		var std jwt.Claims
		var extra struct {
			Nonce       string `json:"nonce"`
			AuthTime    int64  `json:"auth_time"`
			Email       string `json:"email"`
			DisplayName string `json:"displayName"`
			TenantID    string `json:"tenantId"`
		}
		require.NoError(t, parsed.Claims(keys[0].Key, &std, &extra))
		require.NoError(t, std.Validate(jwt.Expected{Issuer: base, AnyAudience: jwt.Audience{"lerian"}, Subject: ana.ID, Time: time.Now()}))
		require.Equal(t, tc.nonce, extra.Nonce)
		require.NotZero(t, extra.AuthTime)
		require.Equal(t, "Ana.Admin@Acme.test", extra.Email)
		require.Equal(t, "Ana Admin", extra.DisplayName)
		require.Equal(t, "t-1", extra.TenantID)
	}
	var meta map[string]any
	resp, err = hc.Get(base + "/.well-known/openid-configuration")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))
	resp.Body.Close()
	require.Equal(t, []any{"ES256"}, meta["id_token_signing_alg_values_supported"])

	// An unknown address answers exactly like a wrong password.
	wantCode, want := post(api.TokenRequest{GrantType: "password", Username: "ana.admin@acme.test", Password: "wrong-Password-guess-1"})
	require.Equal(t, http.StatusUnauthorized, wantCode)
	for _, name := range []string{"nobody@acme.test", "ana.admin@acme.test.example", "nobody"} {
		code, got := post(api.TokenRequest{GrantType: "password", Username: name, Password: "wrong-Password-guess-1"})
		require.Equal(t, wantCode, code, name)
		require.Equal(t, string(want), string(got), name)
	}

	// The tenant's bearer on the data plane: its tenant only.
	bearer := func(method, path string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, base+path, rd)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+lt.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, out
	}
	code, raw = bearer("GET", "/v1/users", nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	names := map[string]bool{}
	for _, u := range usersOf(t, raw) {
		names[u.Username] = true
		require.Equal(t, "t-1", u.TenantID)
	}
	require.Equal(t, map[string]bool{"ana": true, "bia": true}, names)
	code, raw = bearer("GET", "/v1/users/"+u2.ID, nil)
	require.Equal(t, http.StatusNotFound, code, string(raw))
	code, raw = bearer("GET", "/v1/users/"+u1.ID, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	code, raw = bearer("DELETE", "/v1/users/"+u2.ID, nil)
	require.Equal(t, http.StatusNotFound, code, string(raw))
	code, raw = bearer("POST", "/v1/users", api.CreateUserRequest{Username: "dora", Email: "dora@acme.test", Password: "cobalt-Willow-pear-29"})
	require.Equal(t, http.StatusCreated, code, string(raw))
	var dora api.User
	require.NoError(t, json.Unmarshal(raw, &dora))
	require.Equal(t, "t-1", dora.TenantID, "created in the caller's tenant")
	code, raw = bearer("POST", "/v1/users", api.CreateUserRequest{Username: "eva", Email: "eva@acme.test", TenantID: "t-2"})
	require.Equal(t, http.StatusForbidden, code, string(raw))
	var caio api.User
	ctlJSON(&caio, "", "user", "get", u2.ID)
	require.Equal(t, "t-2", caio.TenantID, "the other tenant's user is untouched")
}

// usersOf decodes a user list: a JSON array, or an object with items.
func usersOf(t *testing.T, raw []byte) []api.User {
	t.Helper()
	var arr []api.User
	if json.Unmarshal(raw, &arr) == nil {
		return arr
	}
	var page struct {
		Items []api.User `json:"items"`
	}
	require.NoError(t, json.Unmarshal(raw, &page), string(raw))
	return page.Items
}

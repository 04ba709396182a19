package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// [authz] default_product reaches the decisions of a real daemon: a
// user's check without a product (lib-auth v2.4-v2.8) is decided on the
// configured product, an application's role subject on its own product
// whatever the config says, and GET /v1/permissions/ (the console's
// call) lists the configured product with the Identity resources. A bad
// value stops the start with exit 78, naming the key and its line.
func TestDefaultProductEndToEnd(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "accessd.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("[authz]\ndefault_product = \"a/b\"\n"), 0o600))
	r := runAccessd(t, "check", "--config", cfgFile)
	require.Equal(t, exitConfig, r.code, r.stderr)
	require.Contains(t, r.stderr, cfgFile+":2")
	require.Contains(t, r.stderr, "authz.default_product")

	d := filepath.Join(t.TempDir(), "data")
	args, sock, addr := devConfig(t, d, "[authz]\ndefault_product = \"plugin-crm\"\n")
	startServe(t, 90*time.Second, args...)
	ctl := buildAccessctl(t)
	ctlRun(t, ctl, sock, "group", "create", "crm-viewers")
	ctlRun(t, ctl, sock, "group", "grant", "crm-viewers", "--product", "plugin-crm", "--resource", "contacts", "--action", "get")
	const password = "amber-Falcon-meadow-83"
	mk := exec.Command(ctl, "--socket", sock, "-o", "json", "user", "create", "--username", "nina", "--email", "nina@example.test",
		"--group", "crm-viewers", "--group", "midaz-viewer-group", "--group", "identity-editor-group", "--password-stdin")
	mk.Stdin = strings.NewReader(password + "\n")
	out, err := mk.Output()
	require.NoError(t, err)
	var u api.CreatedUser
	require.NoError(t, json.Unmarshal(out, &u), string(out))
	var app api.CreatedApplication
	out = []byte(ctlRun(t, ctl, sock, "-o", "json", "app", "create", "--name", "ledger-sync", "--group", "midaz-viewer-group"))
	require.NoError(t, json.Unmarshal(out, &app), string(out))

	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	base := "https://" + addr
	do := func(method, path, auth, body string, out any) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			require.NoError(t, json.Unmarshal(b, out), string(b))
		}
		return resp.StatusCode
	}
	token := func(body string) string {
		var tok api.TokenResponse
		require.Equal(t, 200, do("POST", "/v1/login/oauth/access_token", "", body, &tok))
		return tok.AccessToken
	}
	userTok := token(fmt.Sprintf(`{"grantType":"password","username":"nina","password":%q}`, password))
	appTok := token(fmt.Sprintf(`{"grantType":"client_credentials","clientId":%q,"clientSecret":%q}`, app.ClientID, app.ClientSecret))

	for _, tc := range []struct {
		name, tok, body string
		want            bool
	}{
		{"user, no product: the configured plugin-crm", userTok, `{"sub":"lerian/` + u.ID + `","resource":"contacts","action":"get"}`, true},
		{"user, no product: midaz grants do not answer", userTok, `{"sub":"lerian/` + u.ID + `","resource":"accounts","action":"get"}`, false},
		{"user, midaz named", userTok, `{"sub":"lerian/` + u.ID + `","resource":"accounts","action":"get","product":"midaz"}`, true},
		{"app, lib-auth v2.9's role subject", appTok, `{"sub":"admin/midaz-editor-role","resource":"accounts","action":"get"}`, true},
		{"app, role subject, not granted", appTok, `{"sub":"admin/midaz-editor-role","resource":"accounts","action":"delete"}`, false},
		{"app, role subject, another product", appTok, `{"sub":"admin/midaz-editor-role","resource":"accounts","action":"get","product":"plugin-crm"}`, false},
		{"app, its own subject, no product", appTok, `{"sub":"lerian/` + app.ClientID + `","resource":"accounts","action":"get"}`, false},
	} {
		var dec api.AuthorizeResponse
		require.Equal(t, 200, do("POST", "/v1/authorize", tc.tok, tc.body, &dec), tc.name)
		require.Equal(t, tc.want, dec.Authorized, tc.name)
	}

	var perms map[string][]string
	require.Equal(t, 200, do("GET", "/v1/permissions/", "Bearer "+userTok, "", &perms))
	require.Equal(t, map[string][]string{"contacts": {"get"}, "applications": {"*"}, "groups": {"*"},
		"reset-password": {"*"}, "update-password": {"*"}, "users": {"*"}}, perms)
	var midaz map[string][]string
	require.Equal(t, 200, do("GET", "/v1/permissions?product=midaz", "Bearer "+userTok, "", &midaz))
	require.Equal(t, []string{"get", "head"}, midaz["*"])
	_, listed := midaz["users"]
	require.False(t, listed, "identity-editor-group's grants are in product identity: none of them applies to midaz (%v)", midaz)
	var dec api.AuthorizeResponse
	require.Equal(t, 200, do("POST", "/v1/authorize", userTok, `{"sub":"lerian/`+u.ID+`","resource":"users","action":"delete","product":"midaz"}`, &dec))
	require.False(t, dec.Authorized, "an identity editor may not delete midaz users")
}

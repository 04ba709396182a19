package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/accessd/accessd/oauth/api"
)

// openssl runs openssl in dir and fails the test on an error.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	c := exec.Command("openssl", args...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	require.NoError(t, err, "openssl %v: %s", args, out)
}

// clientPKI makes, with openssl, a client CA and a client certificate it
// signed, and a second CA's certificate for the same key's holder.
func clientPKI(t *testing.T) (dir string) {
	dir = t.TempDir()
	for _, ca := range []string{"ca", "otherca"} {
		openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
			"-subj", "/CN=accessd test "+ca, "-keyout", ca+".key", "-out", ca+".pem")
	}
	openssl(t, dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/O=Acme/CN=settlement-engine",
		"-keyout", "client.key", "-out", "client.csr")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ext.cnf"), []byte("extendedKeyUsage=clientAuth\n"), 0o600))
	for _, ca := range []string{"ca", "otherca"} {
		openssl(t, dir, "x509", "-req", "-in", "client.csr", "-CA", ca+".pem", "-CAkey", ca+".key", "-CAcreateserial",
			"-days", "1", "-extfile", "ext.cnf", "-out", "client-"+ca+".pem")
	}
	// Another key with a good certificate of the configured CA: it passes
	// TLS but is not the key the application is bound to.
	openssl(t, dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/O=Acme/CN=settlement-engine",
		"-keyout", "intruder.key", "-out", "intruder.csr")
	openssl(t, dir, "x509", "-req", "-in", "intruder.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-days", "1", "-extfile", "ext.cnf", "-out", "intruder.pem")
	return dir
}

// TestOAuthEndToEnd is issue 7's "done when" against the real daemon:
// x/oauth2 over real TLS, the Lerian JSON password grant, /v1/authorize
// with the bare token, introspection and revocation, tls_client_auth with
// an openssl-made certificate, and `accessctl user logout`.
func TestOAuthEndToEnd(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl is required (scripts/test installs it)")
	pki := clientPKI(t)
	d := filepath.Join(t.TempDir(), "data")
	args, sock, addr := devConfig(t, d, fmt.Sprintf("[tls]\nclient_ca = %q\n", filepath.Join(pki, "ca.pem")))
	srv := startServe(t, 90*time.Second, args...)
	ctl := buildAccessctl(t)
	ctlJSON := func(v any, stdin string, args ...string) {
		t.Helper()
		c := exec.Command(ctl, append([]string{"--socket", sock, "-o", "json"}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, err := c.Output()
		require.NoError(t, err, "accessctl %v: %s", args, stderr.String())
		if v != nil {
			require.NoError(t, json.Unmarshal(out, v), string(out))
		}
	}
	ctlJSON(nil, "", "group", "create", "settlement")
	ctlJSON(nil, "", "group", "grant", "settlement", "--product", "midaz", "--resource", "transactions", "--action", "post")
	var app api.CreatedApplication
	ctlJSON(&app, "", "app", "create", "--name", "settlement-engine", "--group", "settlement")
	var bound api.CreatedApplication
	ctlJSON(&bound, "", "app", "create", "--name", "bound-engine", "--group", "settlement", "--cert-spki", strings.TrimSpace(string(spkiOutIn(t, pki))))
	const password = "quiet-Harbor-lantern-64"
	var u api.CreatedUser
	ctlJSON(&u, password+"\n", "user", "create", "--username", "olga", "--email", "olga@example.test", "--group", "settlement", "--password-stdin")

	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	base := "https://" + addr

	// x/oauth2's client_credentials; the token verifies against JWKS.
	cc := clientcredentials.Config{ClientID: app.ClientID, ClientSecret: app.ClientSecret, TokenURL: base + "/oauth/token"}
	octx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tok, err := cc.Token(octx)
	require.NoError(t, err)
	claims := verifyJWKS(t, hc, base, tok.AccessToken)
	require.Equal(t, app.ClientID, claims["client_id"])
	require.Equal(t, "application", claims["type"])
	bad := cc
	bad.ClientSecret = "acs_" + strings.Repeat("A", 43)
	_, err = bad.Token(octx)
	require.Error(t, err, "a wrong secret gets no token")

	post := func(c *http.Client, path string, hdr map[string]string, body string, out any) int {
		t.Helper()
		a := sendHTTP(t, c, "POST", base+path, hdr, body)
		if out != nil && len(a.body) > 0 {
			require.NoError(t, json.Unmarshal(a.body, out), string(a.body))
		}
		return a.status
	}
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	authorize := func(tok, sub, action string) (int, api.AuthorizeResponse) {
		var out api.AuthorizeResponse
		code := post(hc, "/v1/authorize", map[string]string{"Authorization": tok, "Content-Type": "application/json"},
			fmt.Sprintf(`{"action":%q,"product":"midaz","resource":"transactions","sub":%q}`, action, sub), &out)
		return code, out
	}
	code, dec := authorize(tok.AccessToken, "lerian/"+app.ClientID, "post")
	require.Equal(t, 200, code)
	require.True(t, dec.Authorized)
	_, err = time.Parse(time.RFC3339, dec.Timestamp)
	require.NoError(t, err)
	code, dec = authorize(tok.AccessToken, "lerian/"+app.ClientID, "delete")
	require.Equal(t, 200, code)
	require.False(t, dec.Authorized)

	// Introspection, then revocation.
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ClientID+":"+app.ClientSecret))}
	var in map[string]any
	require.Equal(t, 200, post(hc, "/oauth/introspect", form, "token="+tok.AccessToken, &in))
	require.Equal(t, true, in["active"])
	require.Equal(t, 401, post(hc, "/oauth/introspect", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "token="+tok.AccessToken, nil))
	require.Equal(t, 200, post(hc, "/oauth/revoke", form, "token="+tok.AccessToken, nil))
	require.Equal(t, 200, post(hc, "/oauth/introspect", form, "token="+tok.AccessToken, &in))
	require.Equal(t, false, in["active"])

	// tls_client_auth: the openssl certificate from the configured CA,
	// matched to the application's SPKI binding; the token is bound to it.
	mtls := func(certFile string) *http.Client {
		keyFile := "client.key"
		if certFile == "intruder.pem" {
			keyFile = "intruder.key"
		}
		kp, err := tls.LoadX509KeyPair(filepath.Join(pki, certFile), filepath.Join(pki, keyFile))
		require.NoError(t, err)
		// Always offer the certificate, even when the server's CA list does
		// not name its issuer, so the server's own check is what refuses.
		offer := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, GetClientCertificate: offer}}, Timeout: 30 * time.Second}
	}
	var mt api.OAuthTokenResponse
	ctype := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	require.Equal(t, 200, post(mtls("client-ca.pem"), "/oauth/token", ctype, "grant_type=client_credentials&client_id="+url.QueryEscape(bound.ClientID), &mt))
	mclaims := verifyJWKS(t, hc, base, mt.AccessToken)
	der := pemDER(t, filepath.Join(pki, "client-ca.pem"))
	sum := sha256.Sum256(der)
	require.Equal(t, map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}, mclaims["cnf"])
	// Introspection reports the binding, so a resource server can check
	// it; another client without the introspect permission reads nothing.
	var bin map[string]any
	require.Equal(t, 200, post(hc, "/oauth/introspect", form, "token="+mt.AccessToken, &bin))
	require.Equal(t, map[string]any{"active": false}, bin, "another client's token")
	require.Equal(t, 200, post(mtls("client-ca.pem"), "/oauth/introspect", ctype, "client_id="+url.QueryEscape(bound.ClientID)+"&token="+mt.AccessToken, &bin))
	require.Equal(t, true, bin["active"])
	require.Equal(t, mclaims["cnf"], bin["cnf"], "a certificate-bound token is reported with its binding")
	// The same key under another CA's certificate does not pass TLS's
	// verification, so it authenticates nothing; no certificate neither.
	_, err = mtls("client-otherca.pem").Post(base+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials&client_id="+bound.ClientID))
	require.ErrorContains(t, err, "certificate", "a client certificate from another CA is refused in the handshake")
	require.Equal(t, 401, post(hc, "/oauth/token", ctype, "grant_type=client_credentials&client_id="+url.QueryEscape(bound.ClientID), nil))
	require.Equal(t, 401, post(mtls("intruder.pem"), "/oauth/token", ctype, "grant_type=client_credentials&client_id="+url.QueryEscape(bound.ClientID), nil),
		"a good certificate of the CA with another key is not the bound application")
	// The secret application cannot use tls_client_auth: it has no binding.
	require.Equal(t, 401, post(mtls("client-ca.pem"), "/oauth/token", ctype, "grant_type=client_credentials&client_id="+url.QueryEscape(app.ClientID), nil))

	// A bound token works on accessd's own routes only over its
	// certificate (RFC 8705 §3), and so do a bound session's refresh tokens.
	get := func(c *http.Client, path, tok string) int {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 401, get(hc, "/v1/permissions", mt.AccessToken), "a certificate-bound token without its certificate")
	require.Equal(t, 200, get(mtls("client-ca.pem"), "/v1/permissions", mt.AccessToken))
	var bt api.TokenResponse
	require.Equal(t, 200, post(mtls("client-ca.pem"), "/v1/login/oauth/access_token", jsonHdr, fmt.Sprintf(`{"grantType":"password","username":"olga","password":%q}`, password), &bt))
	require.Equal(t, 401, post(hc, "/v1/login/oauth/refresh_token", jsonHdr, fmt.Sprintf(`{"refreshToken":%q}`, bt.RefreshToken), nil),
		"a bound session's refresh token without its certificate")
	var bt2 api.TokenResponse
	require.Equal(t, 200, post(mtls("client-ca.pem"), "/v1/login/oauth/refresh_token", jsonHdr, fmt.Sprintf(`{"refreshToken":%q}`, bt.RefreshToken), &bt2))
	require.Equal(t, mclaims["cnf"], verifyJWKS(t, hc, base, bt2.AccessToken)["cnf"], "the refreshed token keeps the binding")

	// Lerian's JSON password grant; then `accessctl user logout`.
	var lt api.TokenResponse
	require.Equal(t, 200, post(hc, "/v1/login/oauth/access_token", jsonHdr, fmt.Sprintf(`{"grantType":"password","username":"olga","password":%q}`, password), &lt))
	require.Equal(t, "Bearer", lt.TokenType)
	require.NotEmpty(t, lt.AccessToken)
	require.NotEmpty(t, lt.RefreshToken)
	code, dec = authorize(lt.AccessToken, "lerian/"+u.ID, "post")
	require.Equal(t, 200, code)
	require.True(t, dec.Authorized)
	time.Sleep(1100 * time.Millisecond) // tokens carry whole seconds
	ctlJSON(nil, "", "user", "logout", "olga")
	code, _ = authorize(lt.AccessToken, "lerian/"+u.ID, "post")
	require.Equal(t, 401, code, "after accessctl user logout an earlier token is no longer authorized")

	// The admin plane counts what happened.
	mc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := mc.Get("http://admin/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `accessd_tokens_issued_total{grant="client_credentials",result="ok"}`)
	require.Contains(t, string(body), `accessd_authorize_decisions_total{result="denied"}`)
	require.Contains(t, string(body), "accessd_signing_key_age_seconds")

	// Keys survive a restart: the earlier token still verifies.
	srv.stop(t)
	startServe(t, 90*time.Second, args...)
	require.Equal(t, 200, post(mtls("client-ca.pem"), "/oauth/introspect", ctype, "client_id="+url.QueryEscape(bound.ClientID)+"&token="+mt.AccessToken, &in))
	require.Equal(t, true, in["active"], "a token from before the restart is still valid")
	require.Equal(t, 200, post(hc, "/oauth/introspect", form, "token="+tok.AccessToken, &in))
	require.Equal(t, false, in["active"], "a revocation survives the restart")
	// No secret of this run is in the daemon's log.
	logs := srv.stdout.String() + srv.stderr.String()
	for _, s := range []string{app.ClientSecret, password, lt.AccessToken, lt.RefreshToken, tok.AccessToken} {
		require.NotContains(t, logs, s)
	}
}

func verifyJWKS(t *testing.T, hc *http.Client, base, tok string) map[string]any {
	t.Helper()
	resp, err := hc.Get(base + "/.well-known/jwks.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	require.NoError(t, err)
	require.Equal(t, "at+jwt", obj.Signatures[0].Protected.ExtraHeaders[jose.HeaderType])
	keys := set.Key(obj.Signatures[0].Protected.KeyID)
	require.Len(t, keys, 1)
	payload, err := obj.Verify(keys[0].Key)
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	return claims
}

func pemDER(t *testing.T, file string) []byte {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-in", file, "-outform", "der").Output()
	require.NoError(t, err)
	return out
}

// spkiOutIn is the hex SHA-256 of the client certificate's
// SubjectPublicKeyInfo, computed by openssl as the operator's manual says.
func spkiOutIn(t *testing.T, dir string) []byte {
	t.Helper()
	c := exec.Command("sh", "-c", "openssl x509 -in client-ca.pem -pubkey -noout | openssl pkey -pubin -outform der")
	c.Dir = dir
	der, err := c.Output()
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	return []byte(hex.EncodeToString(sum[:]))
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

// transcripts is everything a run showed anyone: every accessctl output,
// every HTTP answer, the daemon's logs. Each secret the run creates must
// appear in exactly the one transcript that minted it, and nowhere else.
type transcripts struct {
	t     *testing.T
	texts map[string]string // name -> text
	mint  map[string]string // secret -> name of the transcript that minted it ("" = none may show it)
}

func (tr *transcripts) add(name, text string) {
	tr.t.Helper()
	_, dup := tr.texts[name]
	require.False(tr.t, dup, "transcript %q recorded twice", name)
	tr.texts[name] = text
}

func (tr *transcripts) secret(s, mintedBy string) {
	tr.t.Helper()
	require.GreaterOrEqual(tr.t, len(s), 10, "a secret too short to search for: %q", s)
	tr.mint[s] = mintedBy
}

// TestSecretsNeverLeak is issue 9 §3's leak scan: a run that mints every
// kind of secret (recovery key, generated and chosen passwords, client
// secrets and their rotation, TOTP seed and recovery codes, access and
// refresh tokens) and provokes failures, then looks for each secret in
// every output of the run and in the data dir's files.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	tr := &transcripts{t: t, texts: map[string]string{}, mint: map[string]string{}}
	d := filepath.Join(t.TempDir(), "data")
	c := writeDevConfig(t, "")
	cfgFile, sock, addr := c.file, c.sock, c.addr

	init := runAccessd(t, "init", "--dev", "--config", cfgFile, "--data-dir", d)
	require.Equal(t, 0, init.code, init.stderr)
	tr.add("init stdout", init.stdout)
	tr.add("init stderr", init.stderr)
	recovery, adminPW := secretsIn(t, init.stdout)
	tr.secret(recovery, "init stdout")
	tr.secret(adminPW, "init stdout")

	srv := startServe(t, 90*time.Second, "--dev", "--config", cfgFile, "--data-dir", d, "--listen", addr)
	ctl := buildAccessctl(t)
	n := 0
	run := func(stdin string, args ...string) string {
		t.Helper()
		c := exec.Command(ctl, append([]string{"--socket", sock}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		_ = c.Run()
		n++
		name := fmt.Sprintf("accessctl#%d %s", n, strings.Join(args, " "))
		tr.add(name, stdout.String()+"\n--stderr--\n"+stderr.String())
		return name
	}
	jsonOf := func(name string, v any) {
		t.Helper()
		out, _, _ := strings.Cut(tr.texts[name], "\n--stderr--\n")
		require.NoError(t, json.Unmarshal([]byte(out), v), name+": "+tr.texts[name])
	}

	// Users: a generated password, a chosen one, a reset.
	name := run("", "-o", "json", "user", "create", "--username", "gen.user", "--email", "gen@example.test", "--group", "midaz-viewer-group")
	var gen api.CreatedUser
	jsonOf(name, &gen)
	tr.secret(gen.Password, name)
	const chosen = "Chosen-password-never-echoed-42"
	name = run(chosen+"\n", "-o", "json", "user", "create", "--username", "chosen.user", "--email", "c.u@example.test", "--group", "midaz-viewer-group", "--password-stdin")
	tr.secret(chosen, "")
	require.Contains(t, tr.texts[name], `"username": "chosen.user"`, tr.texts[name])
	name = run("", "-o", "json", "user", "reset-password", "gen.user")
	var reset api.PasswordReset
	jsonOf(name, &reset)
	tr.secret(reset.Password, name)
	run("short\n", "user", "create", "--username", "weak.user", "--email", "weak@example.test", "--password-stdin")

	// Applications: a secret, then its rotation.
	name = run("", "-o", "json", "app", "create", "--name", "leak-check", "--group", "midaz-viewer-group")
	var app api.CreatedApplication
	jsonOf(name, &app)
	tr.secret(app.ClientSecret, name)
	name = run("", "-o", "json", "app", "rotate", app.ClientID, "--grace", "1h")
	var rot api.RotatedSecret
	jsonOf(name, &rot)
	tr.secret(rot.ClientSecret, name)

	// MFA enrolment over the admin socket: the TOTP seed and recovery codes.
	admin := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 30 * time.Second}
	var u api.User
	jsonOf(run("", "-o", "json", "user", "get", "chosen.user"), &u)
	resp, err := admin.Post("http://admin/v1/users/"+u.ID+"/mfa/setup", "application/json", strings.NewReader(`{"mfaType":"app"}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.add("mfa setup", string(body))
	var setup api.MFASetup
	require.NoError(t, json.Unmarshal(body, &setup), string(body))
	tr.secret(setup.Secret, "mfa setup")
	for _, rc := range setup.RecoveryCodes {
		tr.secret(rc, "mfa setup")
	}

	// Tokens over TLS, and failures whose answers are collected too.
	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	post := func(label, path, ctype, auth, body string) string {
		t.Helper()
		req, err := http.NewRequest("POST", "https://"+addr+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.SetBasicAuth(app.ClientID, auth)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.add(label, string(b))
		return string(b)
	}
	var tok api.TokenResponse
	require.NoError(t, json.Unmarshal([]byte(post("password grant", "/v1/login/oauth/access_token", "application/json", "",
		fmt.Sprintf(`{"grantType":"password","username":"gen.user","password":%q}`, reset.Password))), &tok))
	// A one-time password must be changed first; change it, then sign in.
	if tok.AccessToken == "" {
		const next = "Second-password-for-him-77"
		tr.secret(next, "")
		req, _ := http.NewRequest("PATCH", "http://admin/v1/users/"+gen.ID+"/reset-password", strings.NewReader(fmt.Sprintf(`{"newPassword":%q}`, next)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := admin.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.add("admin reset with chosen password", string(b))
		require.NoError(t, json.Unmarshal([]byte(post("password grant 2", "/v1/login/oauth/access_token", "application/json", "",
			fmt.Sprintf(`{"grantType":"password","username":"gen.user","password":%q}`, next))), &tok))
		require.NotEmpty(t, tok.AccessToken, tr.texts["password grant 2"])
		tr.secret(tok.AccessToken, "password grant 2")
		tr.secret(tok.RefreshToken, "password grant 2")
	} else {
		tr.secret(tok.AccessToken, "password grant")
		tr.secret(tok.RefreshToken, "password grant")
	}
	var ref api.TokenResponse
	require.NoError(t, json.Unmarshal([]byte(post("refresh grant", "/v1/login/oauth/refresh_token", "application/json", "",
		fmt.Sprintf(`{"refreshToken":%q}`, tok.RefreshToken))), &ref))
	require.NotEmpty(t, ref.AccessToken)
	tr.secret(ref.AccessToken, "refresh grant")
	tr.secret(ref.RefreshToken, "refresh grant")
	var cc api.OAuthTokenResponse
	require.NoError(t, json.Unmarshal([]byte(post("client credentials", "/oauth/token", "application/x-www-form-urlencoded", rot.ClientSecret, "grant_type=client_credentials")), &cc))
	require.NotEmpty(t, cc.AccessToken)
	tr.secret(cc.AccessToken, "client credentials")

	const typo = "Chosen-password-never-echoed-43"
	tr.secret(typo, "")
	post("wrong password", "/v1/login/oauth/access_token", "application/json", "", fmt.Sprintf(`{"grantType":"password","username":"chosen.user","password":%q}`, typo))
	post("wrong secret", "/oauth/token", "application/x-www-form-urlencoded", rot.ClientSecret+"x", "grant_type=client_credentials")
	post("replayed refresh", "/v1/login/oauth/refresh_token", "application/json", "", fmt.Sprintf(`{"refreshToken":%q}`, tok.RefreshToken))
	post("bad json", "/v1/login/oauth/access_token", "application/json", "", fmt.Sprintf(`{"grantType":"password","password":%q,"username":1}`, typo))

	// What operators read afterwards.
	run("", "-o", "json", "audit", "list")
	run("", "review")
	run("", "-o", "json", "app", "get", app.ClientID)
	run("", "-o", "json", "user", "list")
	run("", "keys", "list")
	srv.stop(t)
	tr.add("serve stdout", srv.stdout.String())
	tr.add("serve stderr", srv.stderr.String())

	checked := 0
	var needles [][]byte
	for s, mintedBy := range tr.mint {
		needles = append(needles, []byte(s))
		for name, text := range tr.texts {
			checked++
			if name == mintedBy {
				require.Contains(t, text, s, "the minting answer %q shows its secret", name)
				continue
			}
			require.NotContains(t, text, s, "a secret minted by %q appears in %q", mintedBy, name)
		}
	}
	requireNotStored(t, d, needles...)
	t.Logf("REPORT leak-scan: %d secrets x %d transcripts (%d checks), data dir files scanned", len(tr.mint), len(tr.texts), checked)
}

package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// devDaemon is a --dev daemon as its users reach it: accessctl over the
// admin socket, and plain HTTP over both planes (planes, faults_test.go).
type devDaemon struct {
	*planes
	t         *testing.T
	srv       *served
	sock, ctl string
	hc        *http.Client
}

// startDevDaemon starts a --dev daemon with extra config lines.
func startDevDaemon(t *testing.T, extraConfig string) *devDaemon {
	d, sock, addr, srv := serveDev(t, extraConfig)
	pl := newPlanes(t, sock, filepath.Join(d, "tls", "server.crt"), addr)
	return &devDaemon{planes: pl, t: t, srv: srv, sock: sock, ctl: buildAccessctl(t), hc: pl.data}
}

// accessctl runs accessctl -o json and decodes its output into out.
func (p *devDaemon) accessctl(out any, stdin string, args ...string) {
	p.t.Helper()
	c := exec.Command(p.ctl, append([]string{"--socket", p.sock, "-o", "json"}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	c.Stderr = &stderr
	b, err := c.Output()
	require.NoError(p.t, err, "accessctl %v: %s", args, stderr.String())
	if out != nil {
		require.NoError(p.t, json.Unmarshal(b, out), string(b))
	}
}

// send sends a JSON request (bearer empty: none) and returns the status
// and body; out is decoded from a 2xx answer.
func (p *devDaemon) send(c *http.Client, method, url, bearer, body string, out any) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(p.t, err)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		require.NoError(p.t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode, string(b)
}

// oathTOTP is the code of seed at t, from oathtool.
func oathTOTP(t *testing.T, seed string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "-N", at.UTC().Format("2006-01-02 15:04:05 UTC"), seed).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// enrolTOTPAdmin turns TOTP on for a user over the admin socket and
// returns the seed.
func (p *devDaemon) enrolTOTPAdmin(userID string) string {
	p.t.Helper()
	var setup api.MFASetup
	code, body := p.send(p.admin, "POST", "http://admin/v1/users/"+userID+"/mfa/setup", "", `{"mfaType":"app"}`, &setup)
	require.Equal(p.t, 200, code, body)
	code, body = p.send(p.admin, "POST", "http://admin/v1/users/"+userID+"/mfa/enable", "", fmt.Sprintf(`{"mfaType":"app","passcode":%q}`, oathTOTP(p.t, setup.Secret, time.Now())), nil)
	require.Equal(p.t, 200, code, body)
	return setup.Secret
}

// claims decodes an access token's payload (the daemon signed it; this
// only reads it).
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

// TestStepUpEndToEnd: on a real daemon, creating an application and
// rotating its secret on the data plane need the permission and a
// sign-in with a second factor enrolled before it, within
// credential_ops_max_age (8s here); a refresh keeps the sign-in's time;
// the same step-up guards MFA changes; application tokens never pass.
func TestStepUpEndToEnd(t *testing.T) {
	t.Parallel()
	const maxAge = 8 * time.Second
	p := startDevDaemon(t, "[identity]\ncredential_ops_max_age = \"8s\"\nremote_credential_ops = true")
	require.Contains(t, p.srv.stderr.String()+p.srv.stdout.String(), "remote_credential_ops no longer does anything", "the old switch is accepted, with a warning")
	const password = "steady-Orchard-kettle-73"
	var ana, bob api.CreatedUser
	p.accessctl(&ana, password+"\n", "user", "create", "--username", "ana", "--email", "ana@example.test", "--group", "identity-editor-group", "--password-stdin")
	p.accessctl(&bob, password+"\n", "user", "create", "--username", "bob", "--email", "bob@example.test", "--group", "identity-editor-group", "--password-stdin")
	seed := p.enrolTOTPAdmin(ana.ID)

	signIn := func(user string) (api.TokenResponse, api.MFAChallenge) {
		t.Helper()
		var tr api.TokenResponse
		var ch api.MFAChallenge
		code, body := p.send(p.hc, "POST", p.base+"/v1/login/oauth/access_token", "", fmt.Sprintf(`{"grantType":"password","username":%q,"password":%q}`, user, password), &ch)
		require.Equal(t, 200, code, body)
		require.NoError(t, json.Unmarshal([]byte(body), &tr))
		return tr, ch
	}
	createApp := func(bearer, name string) (int, string) {
		t.Helper()
		var app api.CreatedApplication
		code, body := p.send(p.hc, "POST", p.base+"/v1/applications", bearer, fmt.Sprintf(`{"name":%q}`, name), &app)
		if code == 201 {
			require.True(t, strings.HasPrefix(app.ClientSecret, "acs_"), "the secret is shown once, on creation")
		}
		return code, body
	}
	refused := func(code int, body, why string) {
		t.Helper()
		require.Equal(t, 403, code, body)
		require.Contains(t, body, `"AUT-0407"`, body)
		require.Contains(t, body, why, body)
	}

	// A password-only session: refused, saying a second factor is missing.
	bobTok, ch := signIn("bob")
	require.False(t, ch.MFARequired)
	code, body := createApp(bobTok.AccessToken, "bob-app")
	refused(code, body, "must have passed a second factor")
	require.Equal(t, []any{"pwd"}, claims(t, bobTok.AccessToken)["amr"])

	// A factor enrolled after the sign-in does not count: bob enrols TOTP
	// with that session (his first factor needs no step-up), and the
	// session is still refused; he may not switch the factor off with it.
	var setup api.MFASetup
	code, body = p.send(p.hc, "POST", p.base+"/v1/users/"+bob.ID+"/mfa/setup", bobTok.AccessToken, `{"mfaType":"app"}`, &setup)
	require.Equal(t, 200, code, body)
	code, body = p.send(p.hc, "POST", p.base+"/v1/users/"+bob.ID+"/mfa/enable", bobTok.AccessToken, fmt.Sprintf(`{"mfaType":"app","passcode":%q}`, oathTOTP(t, setup.Secret, time.Now())), nil)
	require.Equal(t, 200, code, body)
	code, body = createApp(bobTok.AccessToken, "bob-app")
	refused(code, body, "must have passed a second factor")
	code, body = p.send(p.hc, "POST", p.base+"/v1/users/"+bob.ID+"/mfa/disable", bobTok.AccessToken, "", nil)
	refused(code, body, "turn second factors off")

	// A sign-in with TOTP: allowed, create and rotate, the secret once.
	_, ch = signIn("ana")
	require.True(t, ch.MFARequired)
	var anaTok api.TokenResponse
	signedIn := time.Now()
	code, body = p.send(p.hc, "POST", p.base+"/v1/login/mfa/verify", "", fmt.Sprintf(`{"mfaToken":%q,"mfaType":"app","passcode":%q}`, ch.MFAToken, oathTOTP(t, seed, time.Now().Add(30*time.Second))), &anaTok)
	require.Equal(t, 200, code, body)
	c := claims(t, anaTok.AccessToken)
	require.Equal(t, []any{"pwd", "otp"}, c["amr"])
	authTime := c["auth_time"]
	var app api.CreatedApplication
	code, body = p.send(p.hc, "POST", p.base+"/v1/applications", anaTok.AccessToken, `{"name":"ana-app"}`, &app)
	require.Equal(t, 201, code, body)
	require.NotEmpty(t, app.ClientSecret)
	var rot api.RotatedSecret
	code, body = p.send(p.hc, "POST", p.base+"/v1/applications/"+app.ID+"/rotate", anaTok.AccessToken, "", &rot)
	require.Equal(t, 200, code, body)
	require.NotEmpty(t, rot.ClientSecret)
	require.NotEqual(t, app.ClientSecret, rot.ClientSecret)

	// An application token never passes, even one in the editor group.
	var m2m api.CreatedApplication
	p.accessctl(&m2m, "", "app", "create", "--name", "robot", "--group", "identity-editor-group")
	var appTok api.TokenResponse
	code, body = p.send(p.hc, "POST", p.base+"/v1/login/oauth/access_token", "", fmt.Sprintf(`{"grantType":"client_credentials","clientId":%q,"clientSecret":%q}`, m2m.ClientID, m2m.ClientSecret), &appTok)
	require.Equal(t, 200, code, body)
	code, body = createApp(appTok.AccessToken, "robot-child")
	refused(code, body, "application token never qualifies")

	// A refresh keeps the sign-in's time and methods: once the sign-in is
	// older than the max age, a freshly refreshed token is refused too.
	refresh := func(rt string) api.TokenResponse {
		t.Helper()
		var tr api.TokenResponse
		code, body := p.send(p.hc, "POST", p.base+"/v1/login/oauth/refresh_token", "", fmt.Sprintf(`{"refreshToken":%q}`, rt), &tr)
		require.Equal(t, 200, code, body)
		return tr
	}
	time.Sleep(time.Until(signedIn.Add(maxAge + 2*time.Second)))
	fresh := refresh(anaTok.RefreshToken)
	c = claims(t, fresh.AccessToken)
	require.Equal(t, authTime, c["auth_time"], "a refresh never renews the sign-in time")
	require.Equal(t, []any{"pwd", "otp"}, c["amr"])
	code, body = createApp(fresh.AccessToken, "ana-late")
	refused(code, body, "must be at most 8s old")
	code, body = p.send(p.hc, "PATCH", p.base+"/v1/users/"+ana.ID+"/mfa/preferred", fresh.AccessToken, `{"mfaType":"app"}`, nil)
	refused(code, body, "change the preferred second factor")

	// The admin socket needs neither permission nor step-up.
	var adminApp api.CreatedApplication
	p.accessctl(&adminApp, "", "app", "create", "--name", "from-the-host")
	require.NotEmpty(t, adminApp.ClientSecret)
}

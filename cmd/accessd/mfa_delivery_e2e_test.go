package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
)

var codeIn = regexp.MustCompile(`code is (\d{6})\b`)

// TestMFADeliveryEndToEnd is issue 11's "done when" against the real
// daemon: e-mail codes through a real go-smtp relay with STARTTLS and
// AUTH, SMS codes through a real HTTPS gateway, both trusted through a
// CA file given to accessctl; the Lerian JSON password grant, its
// challenge, /v1/login/mfa/challenge and /verify; a code works once, a
// wrong one counts toward lockout; `provider get` never shows a secret;
// and neither codes, addresses nor numbers reach the daemon's log.
func TestMFADeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	ca := deliverytest.NewCA(t)
	const relayUser, relaySecret, gwSecret = "accessd", "relay-Secret-9f3e2a", "gw-Token-7c1d0b"
	relay := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca, Username: relayUser, Password: relaySecret})
	gw := deliverytest.NewGateway(t, ca, 0)
	caFile := filepath.Join(t.TempDir(), "site-ca.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(ca.PEM), 0o600))

	d := filepath.Join(t.TempDir(), "data")
	args, sock, addr := devConfig(t, d, "[identity]\nlockout_attempts = 3\n[delivery]\nallow_hosts = [\"127.0.0.0/8\"]\n")
	srv := startServe(t, 90*time.Second, args...)
	ctl := buildAccessctl(t)
	ctlRun := func(stdin string, args ...string) string {
		t.Helper()
		c := exec.Command(ctl, append([]string{"--socket", sock}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, err := c.Output()
		require.NoError(t, err, "accessctl %v: %s", args, stderr.String())
		return string(out)
	}

	// Providers: the secrets go in on stdin and never come back.
	ctlRun(relaySecret+"\n", "provider", "create", "--name", "relay", "--category", "Email", "--host", relay.Host,
		"--port", fmt.Sprint(relay.Port), "--client-id", relayUser, "--client-secret-stdin", "--from", "accessd@example.test", "--ca-file", caFile)
	ctlRun(gwSecret+"\n", "provider", "create", "--name", "sms-gw", "--category", "SMS", "--url", gw.URL,
		"--template", `{"to":"{{phone}}","text":"{{message}}"}`, "--client-id", "accessd", "--client-secret-stdin", "--ca-file", caFile)
	for _, out := range []string{ctlRun("", "-o", "json", "provider", "get", "relay"), ctlRun("", "provider", "get", "relay"),
		ctlRun("", "-o", "json", "provider", "list"), ctlRun("", "provider", "list"), ctlRun("", "-o", "json", "provider", "get", "sms-gw")} {
		require.NotContains(t, out, relaySecret)
		require.NotContains(t, out, gwSecret)
	}
	var got api.Provider
	require.NoError(t, json.Unmarshal([]byte(ctlRun("", "-o", "json", "provider", "get", "relay")), &got))
	require.True(t, got.ClientSecretSet)
	require.Contains(t, ctlRun("", "provider", "test", "relay", "--to", "ops@example.test"), "delivered through relay")
	m := relay.Next(t)
	require.True(t, m.TLS)
	require.Equal(t, relayUser, m.User, "the relay saw AUTH, over TLS")
	require.False(t, relay.AuthInClear())

	const password = "quiet-Harbor-lantern-64"
	const email, phone = "olga.secret-address@example.test", "+4915112345678"
	var olga, sam api.CreatedUser
	require.NoError(t, json.Unmarshal([]byte(ctlRun(password+"\n", "-o", "json", "user", "create", "--username", "olga", "--email", email, "--password-stdin")), &olga))
	require.NoError(t, json.Unmarshal([]byte(ctlRun(password+"\n", "-o", "json", "user", "create", "--username", "sam", "--email", "sam@example.test",
		"--phone-number", phone, "--password-stdin")), &sam))
	require.Equal(t, phone, sam.PhoneNumber)

	// The admin socket, for MFA enrolment (accessctl has no mfa verbs).
	admin := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	post := func(c *http.Client, url, body string, out any) int {
		t.Helper()
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil && resp.StatusCode == 200 {
			require.NoError(t, json.Unmarshal(b, out), string(b))
		}
		return resp.StatusCode
	}
	base := "https://" + addr
	var codes []string
	mailCode := func() string {
		t.Helper()
		m := relay.Next(t)
		require.True(t, m.TLS)
		require.Equal(t, []string{email}, m.To, "the code goes to the user's own address")
		c := codeIn.FindStringSubmatch(m.Data)
		require.NotNil(t, c, m.Data)
		codes = append(codes, c[1])
		return c[1]
	}
	smsCode := func() string {
		t.Helper()
		r := gw.Next(t)
		require.Equal(t, "Basic "+basic("accessd", gwSecret), r.Authorization)
		var body struct{ To, Text string }
		require.NoError(t, json.Unmarshal([]byte(r.Body), &body), r.Body)
		require.Equal(t, phone, body.To, "the code goes to the user's own number")
		c := codeIn.FindStringSubmatch(body.Text)
		require.NotNil(t, c, body.Text)
		codes = append(codes, c[1])
		return c[1]
	}
	enrol := func(id, typ string, code func() string) {
		t.Helper()
		var setup api.MFASetup
		require.Equal(t, 200, post(admin, "http://admin/v1/users/"+id+"/mfa/setup", `{"mfaType":"`+typ+`"}`, &setup))
		require.Empty(t, setup.Secret)
		var on api.MFAEnabled
		require.Equal(t, 200, post(admin, "http://admin/v1/users/"+id+"/mfa/enable", `{"mfaType":"`+typ+`","passcode":"`+code()+`"}`, &on))
		require.True(t, on.Enabled)
	}
	login := func(user string) api.MFAChallenge {
		t.Helper()
		var ch api.MFAChallenge
		require.Equal(t, 200, post(hc, base+"/v1/login/oauth/access_token", fmt.Sprintf(`{"grantType":"password","username":%q,"password":%q}`, user, password), &ch))
		require.True(t, ch.MFARequired)
		require.NotEmpty(t, ch.MFAToken)
		return ch
	}
	challenge := func(tok, typ string) int {
		t.Helper()
		var sent api.MFAChallengeSent
		code := post(hc, base+"/v1/login/mfa/challenge", fmt.Sprintf(`{"mfaToken":%q,"mfaType":%q}`, tok, typ), &sent)
		if code == 200 {
			require.NotEmpty(t, sent.Message)
		}
		return code
	}
	verify := func(tok, typ, code string) (int, api.TokenResponse) {
		t.Helper()
		var tr api.TokenResponse
		st := post(hc, base+"/v1/login/mfa/verify", fmt.Sprintf(`{"mfaToken":%q,"mfaType":%q,"passcode":%q}`, tok, typ, code), &tr)
		return st, tr
	}
	wrong := func(code string) string { return fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000) }

	// E-mail: enrol, sign in, challenge, a wrong code, then the right one.
	enrol(olga.ID, "email", mailCode)
	ch := login("olga")
	require.Equal(t, []string{"email"}, ch.MFATypes)
	require.Equal(t, 200, challenge(ch.MFAToken, "email"))
	code := mailCode()
	st, _ := verify(ch.MFAToken, "email", wrong(code))
	require.Equal(t, 401, st)
	st, tr := verify(ch.MFAToken, "email", code)
	require.Equal(t, 200, st)
	require.NotEmpty(t, tr.AccessToken)
	// The same code a second time, on a new sign-in, is refused.
	ch = login("olga")
	st, _ = verify(ch.MFAToken, "email", code)
	require.Equal(t, 401, st, "a code is single use")
	require.Equal(t, 400, challenge(ch.MFAToken, "sms"), "only an enrolled factor can be challenged")

	// SMS, through the gateway, for another user.
	enrol(sam.ID, "sms", smsCode)
	ch2 := login("sam")
	require.Equal(t, 200, challenge(ch2.MFAToken, "sms"))
	code2 := smsCode()
	st, tr = verify(ch2.MFAToken, "sms", code2)
	require.Equal(t, 200, st)
	require.NotEmpty(t, tr.AccessToken)
	ch2 = login("sam")
	st, _ = verify(ch2.MFAToken, "sms", code2)
	require.Equal(t, 401, st, "an SMS code is single use")
	// Resends are rate-limited: three in a burst (setup, two challenges), then no more.
	require.Equal(t, 200, challenge(ch2.MFAToken, "sms"))
	smsCode()
	require.Equal(t, 429, challenge(ch2.MFAToken, "sms"))

	// Wrong codes count toward lockout (lockout_attempts = 3 here): after
	// three (the spent code above was the first), the right code is
	// refused too, throttled (429) per account.
	ch = login("olga")
	require.Equal(t, 200, challenge(ch.MFAToken, "email"))
	code = mailCode()
	for range 2 {
		st, _ = verify(ch.MFAToken, "email", wrong(code))
		require.Equal(t, 401, st)
	}
	st, _ = verify(ch.MFAToken, "email", code)
	require.Equal(t, 429, st, "three wrong codes throttled the account's second factor")
	audit := ctlRun("", "-o", "json", "audit", "list", "--type", "mfa.login")
	require.Contains(t, audit, `"throttled"`)

	// Nothing the user receives or is reached at reached the log.
	logs := srv.stdout.String() + srv.stderr.String()
	require.NotEmpty(t, codes)
	for _, c := range codes {
		// As a token of its own: six digits also turn up by chance
		// inside the log's hashes and nanosecond timestamps.
		alone := regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(c) + `($|[^0-9A-Za-z])`)
		require.False(t, alone.MatchString(logs), "a code reached the daemon's log: %s", c)
	}
	for _, s := range []string{email, phone, strings.TrimPrefix(phone, "+"), relaySecret, gwSecret} {
		require.NotContains(t, logs, s, "the daemon's log holds %q", s)
	}
}

func basic(u, p string) string {
	return base64.StdEncoding.EncodeToString([]byte(u + ":" + p))
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

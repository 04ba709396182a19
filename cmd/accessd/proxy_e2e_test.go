package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTrustedProxiesEndToEnd: behind a trusted proxy (a console signing
// its users in server to server) five wrong passwords from one client
// throttle that client on the account (429, Retry-After), while the
// owner, another client of the same proxy, signs in; without
// trusted_proxies the same proxy's clients are one source, and the owner
// is throttled too. The audit log names the client behind the proxy.
func TestTrustedProxiesEndToEnd(t *testing.T) {
	t.Parallel()
	const password = "harbor-Quiet-thistle-82"
	for _, c := range []struct {
		name, extra string
		ownerStatus int
	}{
		{"trusted", "trusted_proxies = [\"127.0.0.1\", \"::1\"]\n", http.StatusOK},
		{"not trusted", "", http.StatusTooManyRequests},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := filepath.Join(t.TempDir(), "data")
			args, sock, addr := devConfig(t, d, c.extra)
			startServe(t, 90*time.Second, args...)
			ctl := buildAccessctl(t)
			create := exec.Command(ctl, "--socket", sock, "user", "create", "--username", "vera", "--email", "vera@example.test", "--password-stdin")
			create.Stdin = strings.NewReader(password + "\n")
			out, err := create.CombinedOutput()
			require.NoError(t, err, string(out))

			pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
			require.NoError(t, err)
			pool := x509.NewCertPool()
			require.True(t, pool.AppendCertsFromPEM(pem))
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
			login := func(client, pw string) (int, string) {
				t.Helper()
				req, err := http.NewRequest("POST", "https://"+addr+"/v1/login/oauth/access_token",
					strings.NewReader(fmt.Sprintf(`{"grantType":"password","username":"vera","password":%q}`, pw)))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", "6.6.6.6, "+client) // the left entry is the client's own claim
				resp, err := hc.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				return resp.StatusCode, resp.Header.Get("Retry-After")
			}
			for range 5 {
				st, _ := login("203.0.113.9", "wrong-password-guess")
				require.Equal(t, http.StatusUnauthorized, st)
			}
			st, retry := login("203.0.113.9", password)
			require.Equal(t, http.StatusTooManyRequests, st, "the client that failed five times is throttled on the account")
			require.NotEmpty(t, retry)
			st, _ = login("198.51.100.20", password)
			require.Equal(t, c.ownerStatus, st, "another client of the proxy")
			audit := ctlRun(t, ctl, sock, "-o", "json", "audit", "list", "--type", "user.login")
			if c.ownerStatus == http.StatusOK {
				require.Contains(t, audit, "203.0.113.9", "the audit source is the client behind the proxy")
				require.NotContains(t, audit, "6.6.6.6", "never an entry the client wrote itself")
			} else {
				require.NotContains(t, audit, "203.0.113.9", "an untrusted peer's header names no one")
			}
		})
	}
}

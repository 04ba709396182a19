package libauthtest

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
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/LerianStudio/lib-auth/v2/auth/middleware"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// daemon is a running `accessd serve --dev`.
type daemon struct {
	url  string // https://127.0.0.1:PORT
	data string // its data dir
	ctl  string // the accessctl binary
	sock string // its admin socket
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// build compiles a command of this repository (../../.. from here) with
// the repository's own go.mod, so this module never requires accessd.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = filepath.Join("..", "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // --dev's TPM simulator needs cgo
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// startDaemon builds accessd and accessctl and runs accessd serve --dev
// in a temporary data dir on a free loopback port, until the test ends.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	bins := t.TempDir()
	accessd := build(t, bins, "./cmd/accessd")
	d := &daemon{ctl: build(t, bins, "./cmd/accessctl"), data: filepath.Join(t.TempDir(), "data"), out: &syncBuffer{}}
	d.sock = filepath.Join(d.data, "admin.sock")
	addr := freeAddr(t)
	d.url = "https://" + addr
	cmd := exec.Command(accessd, "serve", "--dev", "--data-dir", d.data, "--listen", addr)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// Ready when the admin socket answers and the data plane's /health
	// does, trusting the dev certificate explicitly (the process's system
	// roots are not loaded before SSL_CERT_FILE is set).
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			require.FailNow(t, fmt.Sprintf("accessd serve --dev exited: %v\n%s", err, d.out.String()))
		default:
		}
		if d.healthy() {
			return d
		}
		require.False(t, time.Now().After(deadline), "accessd serve --dev did not become ready in 3m:\n%s", d.out.String())
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *daemon) healthy() bool {
	if err := exec.Command(d.ctl, "--socket", d.sock, "status").Run(); err != nil {
		return false
	}
	pem, err := os.ReadFile(d.cert())
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return false
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(d.url + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && string(b) == "healthy"
}

func (d *daemon) cert() string { return filepath.Join(d.data, "tls", "server.crt") }

// accessctl runs accessctl -o json on the daemon's admin socket and
// decodes its answer into out (when not nil).
func (d *daemon) accessctl(t *testing.T, stdin string, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(d.ctl, append([]string{"--socket", d.sock, "-o", "json"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	require.NoError(t, err, "accessctl %s: %s", strings.Join(args, " "), stderr.String())
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
}

// passwordToken signs a user in with Lerian's password grant, as the
// console does, over the process's system roots (SSL_CERT_FILE).
func passwordToken(t *testing.T, base, username, password string) string {
	t.Helper()
	body, err := json.Marshal(map[string]string{"grantType": "password", "username": username, "password": password})
	require.NoError(t, err)
	resp, err := http.Post(base+"/v1/login/oauth/access_token", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var tok struct {
		AccessToken string `json:"accessToken"`
	}
	require.NoError(t, json.Unmarshal(b, &tok))
	require.NotEmpty(t, tok.AccessToken)
	return tok.AccessToken
}

// lib-auth v2.9.0's Fiber middleware and GetApplicationToken, unchanged,
// against a real accessd: an application and a user are each allowed
// exactly what their groups grant, in midaz and in a plugin product,
// and refused the rest.
func TestLibAuthAgainstAccessd(t *testing.T) {
	d := startDaemon(t)
	// lib-auth's shared HTTP client trusts the system roots; this is how
	// a service is pointed at a private CA.
	t.Setenv("SSL_CERT_FILE", d.cert())

	// A plugin's groups, as a CRM deployment defines them.
	d.accessctl(t, "", nil, "group", "create", "plugin-crm-viewer-group")
	d.accessctl(t, "", nil, "group", "create", "plugin-crm-contributor-group")
	for _, a := range []string{"get", "head"} {
		d.accessctl(t, "", nil, "group", "grant", "plugin-crm-viewer-group", "--product", "plugin-crm", "--resource", "*", "--action", a)
	}
	for _, a := range []string{"get", "head", "post", "patch"} {
		d.accessctl(t, "", nil, "group", "grant", "plugin-crm-contributor-group", "--product", "plugin-crm", "--resource", "*", "--action", a)
	}
	var app struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	d.accessctl(t, "", &app, "app", "create", "--name", "ledger-sync", "--group", "midaz-viewer-group", "--group", "plugin-crm-viewer-group")
	require.NotEmpty(t, app.ClientID)
	require.NotEmpty(t, app.ClientSecret)
	const password = "cobalt-Meadow-lantern-42"
	var user struct {
		ID string `json:"id"`
	}
	d.accessctl(t, password+"\n", &user, "user", "create", "--username", "alice", "--email", "alice@example.test",
		"--group", "midaz-contributor-group", "--group", "plugin-crm-contributor-group", "--password-stdin")
	require.NotEmpty(t, user.ID)

	auth := middleware.NewAuthClient(d.url, true, nil)

	// GetApplicationToken: the application's own token, and a wrong
	// secret refused with accessd's error passed through.
	appToken, err := auth.GetApplicationToken(context.Background(), app.ClientID, app.ClientSecret)
	require.NoError(t, err)
	require.NotEmpty(t, appToken)
	bad, err := auth.GetApplicationToken(context.Background(), app.ClientID, app.ClientSecret+"x")
	require.Error(t, err, "a wrong secret gets no token")
	require.Empty(t, bad)
	userToken := passwordToken(t, d.url, "alice", password)

	// A service protecting its routes with lib-auth, as Midaz and a CRM
	// plugin do.
	srv := fiber.New()
	ok := func(c *fiber.Ctx) error { return c.SendString("done") }
	type route struct{ method, path, product, resource, action string }
	routes := []route{
		{"GET", "/v1/accounts", "midaz", "accounts", "get"},
		{"POST", "/v1/ledgers", "midaz", "ledgers", "post"},
		{"DELETE", "/v1/accounts", "midaz", "accounts", "delete"},
		{"GET", "/v1/contacts", "plugin-crm", "contacts", "get"},
		{"POST", "/v1/contacts", "plugin-crm", "contacts", "post"},
		{"DELETE", "/v1/contacts", "plugin-crm", "contacts", "delete"},
	}
	for _, r := range routes {
		srv.Add(r.method, r.path, auth.Authorize(r.product, r.resource, r.action), ok)
	}

	for _, tc := range []struct {
		who    string
		token  string
		method string
		path   string
		want   int
	}{
		// midaz-viewer-group and plugin-crm-viewer-group: get and head.
		{"application", appToken, "GET", "/v1/accounts", http.StatusOK},
		{"application", appToken, "POST", "/v1/ledgers", http.StatusForbidden},
		{"application", appToken, "DELETE", "/v1/accounts", http.StatusForbidden},
		{"application", appToken, "GET", "/v1/contacts", http.StatusOK},
		{"application", appToken, "POST", "/v1/contacts", http.StatusForbidden},
		{"application", appToken, "DELETE", "/v1/contacts", http.StatusForbidden},
		// midaz-contributor-group and plugin-crm-contributor-group: get,
		// head, post, patch.
		{"user", userToken, "GET", "/v1/accounts", http.StatusOK},
		{"user", userToken, "POST", "/v1/ledgers", http.StatusOK},
		{"user", userToken, "DELETE", "/v1/accounts", http.StatusForbidden},
		{"user", userToken, "GET", "/v1/contacts", http.StatusOK},
		{"user", userToken, "POST", "/v1/contacts", http.StatusOK},
		{"user", userToken, "DELETE", "/v1/contacts", http.StatusForbidden},
		// No token, and a token whose signature is not accessd's.
		{"nobody", "", "GET", "/v1/accounts", http.StatusUnauthorized},
		{"forger", forge(t, appToken), "GET", "/v1/accounts", http.StatusUnauthorized},
	} {
		t.Run(fmt.Sprintf("%s %s %s", tc.who, tc.method, tc.path), func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := srv.Test(req, -1)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, tc.want, resp.StatusCode, "answer: %s", b)
			if tc.want == http.StatusOK {
				require.Equal(t, "done", string(b))
			}
		})
	}

	// Every refusal reached the daemon's audit log with its reason.
	var entries []struct {
		Type   string            `json:"type"`
		Detail map[string]string `json:"detail"`
	}
	d.accessctl(t, "", &entries, "audit", "list", "--type", "authz.deny")
	denied := 0
	for _, e := range entries {
		if e.Type == "authz.deny" && e.Detail["reason"] == "no-permission" {
			denied++
		}
	}
	require.Equal(t, 6, denied, "each refused decision is audited")
}

// forge re-signs nothing: it flips one byte of the signature, so the
// claims lib-auth reads unverified are intact and only accessd can tell.
func forge(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, "a JWT")
	sig := []byte(parts[2])
	require.Greater(t, len(sig), 8)
	if sig[4] == 'A' {
		sig[4] = 'B'
	} else {
		sig[4] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}

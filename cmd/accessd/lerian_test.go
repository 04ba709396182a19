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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// lerianDaemon is a real `accessd serve --dev` for the tests that speak
// to it as Lerian's clients do: its data plane over real TLS, trusted
// through the certificate --dev writes, and its admin socket.
type lerianDaemon struct {
	base  string       // https://127.0.0.1:port
	data  *http.Client // trusts the dev certificate
	admin *http.Client // over the admin socket
}

func startLerianDaemon(t *testing.T) *lerianDaemon {
	t.Helper()
	// The contract's relay listens on loopback.
	d, sock, addr, _ := serveDev(t, "[delivery]\nallow_hosts = [\"127.0.0.0/8\"]\n")
	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &lerianDaemon{
		base: "https://" + addr,
		data: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		admin: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		}}},
	}
}

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("HTTP %d %s", a.status, a.body) }

// sendHTTP makes one request with exactly the given headers and body.
func sendHTTP(t *testing.T, c *http.Client, method, url string, hdr map[string]string, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// adminJSON calls the admin socket with a JSON body and decodes a 2xx answer.
func (d *lerianDaemon) adminJSON(t *testing.T, method, path string, in, out any) {
	t.Helper()
	var body string
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(t, err)
		body = string(b)
	}
	a := sendHTTP(t, d.admin, method, "http://accessd"+path, map[string]string{"Content-Type": "application/json"}, body)
	require.Equal(t, 2, a.status/100, "%s %s: %s", method, path, a)
	if out != nil {
		require.NoError(t, json.NewDecoder(bytes.NewReader(a.body)).Decode(out), a.String())
	}
}

// user makes a user with a known password over the admin socket.
func (d *lerianDaemon) user(t *testing.T, username, email, password string, groups ...string) api.CreatedUser {
	t.Helper()
	var u api.CreatedUser
	d.adminJSON(t, "POST", "/v1/users", map[string]any{"username": username, "email": email, "password": password,
		"firstName": "Test", "lastName": strings.ToUpper(username[:1]) + username[1:], "groups": groups}, &u)
	return u
}

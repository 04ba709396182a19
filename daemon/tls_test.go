package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pki makes a CA, a server certificate for 127.0.0.1 and a client
// certificate with openssl, the tool operators use.
type pki struct{ dir string }

func newPKI(t *testing.T) pki {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (scripts/test installs it)")
	}
	p := pki{dir: t.TempDir()}
	p.run(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", p.path("ca.key"), "-out", p.path("ca.crt"), "-days", "2", "-subj", "/CN=test CA")
	p.leaf(t, "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
	p.leaf(t, "client", "/CN=svc-ledger", "extendedKeyUsage=clientAuth")
	return p
}

func (p pki) path(n string) string { return filepath.Join(p.dir, n) }

func (p pki) run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, string(out))
}

func (p pki) leaf(t *testing.T, name, subj, ext string) {
	t.Helper()
	require.NoError(t, os.WriteFile(p.path(name+".ext"), []byte(ext+"\n"), 0o600))
	p.run(t, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", p.path(name+".key"), "-out", p.path(name+".csr"), "-subj", subj)
	p.run(t, "x509", "-req", "-in", p.path(name+".csr"), "-CA", p.path("ca.crt"), "-CAkey", p.path("ca.key"),
		"-CAcreateserial", "-out", p.path(name+".crt"), "-days", "1", "-extfile", p.path(name+".ext"))
}

func (p pki) pool(t *testing.T) *x509.CertPool {
	b, err := os.ReadFile(p.path("ca.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(b))
	return pool
}

// tlsServer serves the handler with the data plane's TLS policy on a real
// loopback listener. (httptest would put its own certificate first.)
type testTLSServer struct {
	URL      string
	Listener net.Listener
}

func tlsServer(t *testing.T, p pki, cfg TLSConfig) (*testTLSServer, *certReloader) {
	t.Helper()
	r, err := newCertReloader(p.path("server.crt"), p.path("server.key"))
	require.NoError(t, err)
	tc, err := serverTLS(r, cfg)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name := "anonymous"
		if len(req.TLS.VerifiedChains) > 0 {
			name = req.TLS.VerifiedChains[0][0].Subject.CommonName
		}
		io.WriteString(w, name)
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(tls.NewListener(l, tc))
	t.Cleanup(func() { srv.Close() })
	return &testTLSServer{URL: "https://" + l.Addr().String(), Listener: l}, r
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientCertificates(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	clientCert, err := tls.LoadX509KeyPair(p.path("client.crt"), p.path("client.key"))
	require.NoError(t, err)
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool(t), Certificates: []tls.Certificate{clientCert}}}}
	without := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool(t)}}}

	tests := []struct {
		name          string
		cfg           TLSConfig
		withCert      string
		withoutWant   string
		withoutRefuse bool
	}{
		{name: "no client CA", cfg: TLSConfig{ClientAuth: "request"}, withCert: "anonymous", withoutWant: "anonymous"},
		{name: "request", cfg: TLSConfig{ClientAuth: "request", ClientCA: p.path("ca.crt")}, withCert: "svc-ledger", withoutWant: "anonymous"},
		{name: "require", cfg: TLSConfig{ClientAuth: "require", ClientCA: p.path("ca.crt")}, withCert: "svc-ledger", withoutRefuse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := tlsServer(t, p, tt.cfg)
			got, err := get(withCert, srv.URL)
			require.NoError(t, err)
			require.Equal(t, tt.withCert, got, "the verified chain reaches the handler")
			got, err = get(without, srv.URL)
			if tt.withoutRefuse {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.withoutWant, got)
		})
	}
}

// TestTLSPolicy makes real handshakes against the data plane's server
// config: old protocol versions and suites without AEAD or forward
// secrecy are refused by the server, whatever the client is willing to do.
func TestTLSPolicy(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv, _ := tlsServer(t, p, TLSConfig{ClientAuth: "request"})
	addr := srv.Listener.Addr().String()
	refused := []struct {
		name    string
		version uint16
		suites  []uint16
		want    string // the server's alert, as Go's client reports it
	}{
		{"TLS 1.0", tls.VersionTLS10, nil, "protocol version not supported"},
		{"TLS 1.1", tls.VersionTLS11, nil, "protocol version not supported"},
		{"TLS 1.2, CBC with SHA-256", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}, "handshake failure"},
		{"TLS 1.2, CBC with SHA-1", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, "handshake failure"},
		{"TLS 1.2, RC4", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA}, "handshake failure"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool(t), MinVersion: tt.version, MaxVersion: tt.version, CipherSuites: tt.suites})
			require.ErrorContains(t, err, tt.want, "must be refused by the server")
		})
	}
	// The same with OpenSSL's client, told to offer what it would refuse
	// itself by default (security level 0).
	for _, args := range [][]string{
		{"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"},
		{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"},
		{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA@SECLEVEL=0"},
	} {
		cmd := exec.Command("openssl", append([]string{"s_client", "-connect", addr, "-CAfile", p.path("ca.crt")}, args...)...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "openssl s_client %v must fail:\n%s", args, out)
		require.Regexp(t, `alert (protocol version|handshake failure)`, string(out), "openssl %v: the server refused it", args)
	}
	// TLS 1.2 with an AEAD suite works; 1.3 is preferred.
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool(t), MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), c.ConnectionState().Version)
	c.Close()
	c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool(t)})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), c.ConnectionState().Version, "1.3 preferred")
	c.Close()
}

func TestServerTLSConfig(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	r, err := newCertReloader(p.path("server.crt"), p.path("server.key"))
	require.NoError(t, err)
	tc, err := serverTLS(r, TLSConfig{ClientAuth: "request"})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), tc.MinVersion)
	for _, id := range tc.CipherSuites {
		s := tls.CipherSuiteName(id)
		require.True(t, strings.Contains(s, "GCM") || strings.Contains(s, "CHACHA20_POLY1305"), "non-AEAD suite %s", s)
		require.True(t, strings.HasPrefix(s, "TLS_ECDHE_"), "suite without forward secrecy %s", s)
	}
	require.Equal(t, tls.NoClientCert, tc.ClientAuth)
}

func TestCertificateReloadKeepsConnections(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv, r := tlsServer(t, p, TLSConfig{ClientAuth: "request"})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool(t)}}}
	_, err := get(client, srv.URL)
	require.NoError(t, err)
	first := r.cur.Load().Leaf

	// Issue a new server certificate in place and reload (what SIGHUP does).
	p.leaf(t, "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
	require.NoError(t, r.reload())
	require.NotEqual(t, first.SerialNumber, r.cur.Load().Leaf.SerialNumber)

	// The kept-alive connection still works, and a new one sees the new cert.
	_, err = get(client, srv.URL)
	require.NoError(t, err)
	c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: p.pool(t)})
	require.NoError(t, err)
	require.Equal(t, r.cur.Load().Leaf.SerialNumber, c.ConnectionState().PeerCertificates[0].SerialNumber)
	c.Close()

	// A broken file keeps the old certificate.
	require.NoError(t, os.WriteFile(p.path("server.crt"), []byte("garbage"), 0o600))
	require.Error(t, r.reload())
	require.NotNil(t, r.cur.Load())
	_, err = get(client, srv.URL)
	require.NoError(t, err)
}

func TestDevCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "tls", "server.crt"), filepath.Join(dir, "tls", "server.key")
	require.NoError(t, ensureDevCert(crt, key, time.Now()))
	fi, err := os.Stat(key)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	before, _ := os.ReadFile(crt)
	require.NoError(t, ensureDevCert(crt, key, time.Now()), "second call keeps the existing certificate")
	after, _ := os.ReadFile(crt)
	require.Equal(t, before, after)
	_, err = tls.LoadX509KeyPair(crt, key)
	require.NoError(t, err)
}

package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/accessd/accessd/daemon/internal/datadir"
)

// certReloader serves the certificate loaded most recently from disk, so
// SIGHUP can replace it without dropping a connection: handshakes already
// done keep their certificate, new ones get the new one.
type certReloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the pair again; on failure the old certificate stays.
func (r *certReloader) reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("daemon: load TLS certificate %s: %w (check tls.cert and tls.key)", r.certFile, err)
	}
	r.cur.Store(&c)
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// serverTLS is the data plane's TLS policy: 1.2 at least, AEAD suites with
// forward secrecy only, client certificates verified against the
// configured CA. Handlers find the verified chain in r.TLS.VerifiedChains.
func serverTLS(r *certReloader, cfg TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
		CipherSuites: []uint16{ // TLS 1.2 only; 1.3 suites are all AEAD
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
	if cfg.ClientCA == "" {
		return tc, nil
	}
	pemBytes, err := os.ReadFile(cfg.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("daemon: read tls.client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("daemon: tls.client_ca %s holds no PEM certificate", cfg.ClientCA)
	}
	tc.ClientCAs = pool
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	if cfg.ClientAuth == "require" {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// ensureDevCertIn makes the --dev certificate when there is none,
// recording what it created in dir, for the first run's undo.
func ensureDevCertIn(dir *datadir.Dir, certFile, keyFile string, now time.Time) error {
	cdir := filepath.Dir(certFile)
	if _, err := os.Lstat(cdir); errors.Is(err, fs.ErrNotExist) {
		dir.Track(cdir)
	}
	if _, err := os.Lstat(certFile); errors.Is(err, fs.ErrNotExist) {
		dir.Track(certFile)
		dir.Track(keyFile)
	}
	return ensureDevCert(certFile, keyFile, now)
}

// ensureDevCert makes a self-signed P-256 leaf certificate for --dev when none
// exists, for localhost and 127.0.0.1, so clients can trust the written
// server.crt. It is never used outside --dev.
func ensureDevCert(certFile, keyFile string, now time.Time) error {
	if _, err := os.Stat(certFile); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "accessd dev", Organization: []string{"accessd --dev (not for production)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		// A leaf, not a CA: clients are told to trust this certificate, and
		// its key sits in the dev data dir, so it must not be able to vouch
		// for any other name.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	defer clear(pkcs8)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	defer clear(keyPEM)
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

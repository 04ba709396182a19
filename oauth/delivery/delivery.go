package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// ErrRefused is wrapped by every failure to deliver: the peer was
// unreachable, untrusted, refused the message, or could not be spoken
// to safely.
var ErrRefused = errors.New("delivery: not delivered")

// tlsConfig is the client TLS configuration for a peer named host:
// verified against roots (nil means the system roots), TLS 1.2 or later.
func tlsConfig(host string, roots *x509.CertPool) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// Roots parses a PEM bundle of CA certificates; an empty one means the
// system roots (nil).
func Roots(pem string) (*x509.CertPool, error) {
	if strings.TrimSpace(pem) == "" {
		return nil, nil
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(pem)) {
		return nil, errors.New("delivery: the CA file holds no PEM certificate")
	}
	return p, nil
}

// answer keeps what a peer said printable and short: an operator reads
// it after a test send.
func answer(s string) string {
	const max = 512
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func refused(provider, step string, err error) error {
	return fmt.Errorf("%w: provider %q: %s: %w", ErrRefused, provider, step, err)
}

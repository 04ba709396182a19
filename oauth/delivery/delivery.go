package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/emersion/go-smtp"
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
	return &refusal{provider: provider, step: step, err: err}
}

// refusal is a failed send: which provider, at which step, and why.
type refusal struct {
	provider, step string
	err            error
}

func (e *refusal) Error() string {
	return fmt.Sprintf("%v: provider %q: %s: %v", ErrRefused, e.provider, e.step, e.err)
}

func (e *refusal) Unwrap() []error { return []error{ErrRefused, e.err} }

// settings is a send refused before any connection, for the provider's
// own settings.
type settings string

func (s settings) Error() string { return string(s) }

// statusError is a peer's refusal, by its status code alone.
type statusError int

func (e statusError) Error() string { return fmt.Sprintf("the peer answered %d", int(e)) }

// Class names the outcome of a send in a fixed phrase, for the answer to
// a test send: "delivered", or what class of failure, never a peer's
// words (which can echo what it was sent, or reflect an internal
// service's answer to whoever set the provider up).
func Class(err error) string {
	var (
		rf  *refusal
		st  statusError
		se  *smtp.SMTPError
		set settings
		dns *net.DNSError
		ne  net.Error
	)
	switch {
	case err == nil:
		return "delivered"
	case errors.Is(err, ErrDestination):
		return "destination not allowed"
	case errors.As(err, &set):
		return "not sent: the provider's settings refuse it"
	case errors.As(err, &st):
		return fmt.Sprintf("rejected by provider (status %d)", int(st))
	case errors.As(err, &se) && se.Code >= 400 && se.Code < 600:
		return fmt.Sprintf("rejected by provider (status %d)", se.Code)
	case errors.As(err, &dns):
		return "host not found"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case tlsFailure(err), errors.As(err, &rf) && rf.step == "starttls":
		return "tls handshake failed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	return "connection failed"
}

func tlsFailure(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
		ae tls.AlertError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rh) || errors.As(err, &ae)
}

// Package deliverytest runs real protocol peers for delivery tests: an
// SMTP relay (github.com/emersion/go-smtp) that speaks STARTTLS or
// implicit TLS with a certificate from a CA made in the test, and an
// HTTPS SMS gateway (net/http/httptest). Both record what they received,
// including whether credentials ever arrived without TLS.
package deliverytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// CA is a certificate authority made for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, as a provider's CA file holds it.
	PEM string
}

// NewCA makes a CA.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deliverytest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, _ := x509.ParseCertificate(der)
	return &CA{cert: cert, key: key, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// ServerTLS is a server configuration with a certificate from ca for
// 127.0.0.1 and localhost.
func (ca *CA) ServerTLS(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

// Mail is one message the relay accepted.
type Mail struct {
	From string
	To   []string
	Data string
	// TLS is whether the message came over TLS; User who authenticated.
	TLS  bool
	User string
}

// Relay is a running SMTP relay.
type Relay struct {
	Host string
	Port int

	mu          sync.Mutex
	mails       []Mail
	authInClear bool
	arrived     chan struct{}
	user, pass  string
}

// RelayOptions shape a relay.
type RelayOptions struct {
	// CA signs the relay's certificate; nil means a relay without TLS
	// (no STARTTLS offered).
	CA *CA
	// ImplicitTLS speaks TLS from the first byte instead of STARTTLS.
	ImplicitTLS bool
	// Username and Password, when set, are the only credentials AUTH
	// PLAIN/LOGIN accepts, and mail is refused without them.
	Username, Password string
}

// NewRelay starts a relay on 127.0.0.1 and stops it at t.Cleanup. It
// accepts AUTH even without TLS, only to record that a client sent it.
func NewRelay(t testing.TB, opt RelayOptions) *Relay {
	t.Helper()
	r := &Relay{Host: "127.0.0.1", arrived: make(chan struct{}, 64), user: opt.Username, pass: opt.Password}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{r: r, c: c}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	if opt.CA != nil {
		srv.TLSConfig = opt.CA.ServerTLS(t)
	}
	if opt.ImplicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)
	r.Port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

// Addr is host:port.
func (r *Relay) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// Mails returns what arrived so far.
func (r *Relay) Mails() []Mail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Mail(nil), r.mails...)
}

// Next waits for the next message.
func (r *Relay) Next(t testing.TB) Mail {
	t.Helper()
	select {
	case <-r.arrived:
	case <-time.After(15 * time.Second):
		require.FailNow(t, "deliverytest: no mail arrived")
	}
	m := r.Mails()
	return m[len(m)-1]
}

// AuthInClear reports whether any client sent AUTH outside TLS.
func (r *Relay) AuthInClear() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.authInClear
}

type session struct {
	r    *Relay
	c    *smtp.Conn
	m    Mail
	user string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	if _, ok := s.c.TLSConnectionState(); !ok {
		s.r.mu.Lock()
		s.r.authInClear = true
		s.r.mu.Unlock()
	}
	check := func(user, pass string) error {
		if s.r.user == "" || user != s.r.user || pass != s.r.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = user
		return nil
	}
	return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.user != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.m.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, tlsOn := s.c.TLSConnectionState()
	m := s.m
	m.Data, m.TLS, m.User = string(b), tlsOn, s.user
	s.r.mu.Lock()
	s.r.mails = append(s.r.mails, m)
	s.r.mu.Unlock()
	s.r.arrived <- struct{}{}
	return nil
}

func (s *session) Reset()        { s.m = Mail{} }
func (s *session) Logout() error { return nil }

// Request is one request the gateway received.
type Request struct {
	ContentType, Authorization string
	Header                     http.Header
	Body                       string
}

// Gateway is a running HTTPS SMS gateway.
type Gateway struct {
	URL string

	mu      sync.Mutex
	reqs    []Request
	arrived chan struct{}
	status  int
}

// NewGateway starts an HTTPS gateway with a certificate from ca that
// answers status (201 when 0) to every POST.
func NewGateway(t testing.TB, ca *CA, status int) *Gateway {
	t.Helper()
	if status == 0 {
		status = http.StatusCreated
	}
	g := &Gateway{arrived: make(chan struct{}, 64), status: status}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, Request{ContentType: r.Header.Get("Content-Type"), Authorization: r.Header.Get("Authorization"), Header: r.Header.Clone(), Body: string(b)})
		g.mu.Unlock()
		g.arrived <- struct{}{}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(g.status)
		_, _ = io.WriteString(w, `{"status":"queued"}`)
	}))
	srv.TLS = ca.ServerTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/send"
	return g
}

// Next waits for the next request.
func (g *Gateway) Next(t testing.TB) Request {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(15 * time.Second):
		require.FailNow(t, "deliverytest: no request arrived at the gateway")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reqs[len(g.reqs)-1]
}

// Count is how many requests arrived.
func (g *Gateway) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.reqs)
}

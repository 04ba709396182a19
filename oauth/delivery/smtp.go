package delivery

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Relay is an SMTP relay, for one message at a time.
type Relay struct {
	// Name is the provider's name, for errors and logs.
	Name string
	Host string
	Port int
	// ImplicitTLS dials TLS from the first byte (SMTPS, usually port
	// 465); otherwise the relay must offer STARTTLS.
	ImplicitTLS bool
	// Insecure skips TLS altogether (the provider's disableSsl); every
	// use is logged at warning level, and no AUTH is ever sent then.
	Insecure bool
	// Username and Password authenticate with AUTH PLAIN (or LOGIN)
	// after TLS; an empty Password means no AUTH.
	Username string
	Password []byte
	// Roots verifies the relay's certificate; nil means the system roots.
	Roots *x509.CertPool
	// LocalName is said in EHLO; empty means "localhost".
	LocalName string
	// Destinations decides, at connect time, where the relay may be;
	// nil means no allow list (never a loopback, link-local, … address).
	Destinations *Destinations
	Log          *slog.Logger
}

// Email is one plain-text message.
type Email struct {
	From, To, Subject, Body string
}

// Send delivers m and returns the relay's answer to the message's data.
// The connection is closed when ctx ends.
func (r Relay) Send(ctx context.Context, m Email) (string, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return "", refused(r.Name, "sender address", settings("not a valid e-mail address (set the provider's from)"))
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", refused(r.Name, "recipient address", settings("not a valid e-mail address"))
	}
	if r.Insecure && len(r.Password) > 0 {
		return "", refused(r.Name, "auth", settings("disableSsl is set and a secret is configured: credentials are never sent without TLS; remove the secret or enable TLS"))
	}
	msg, err := compose(from, to, m.Subject, m.Body)
	if err != nil {
		return "", refused(r.Name, "compose", settings(err.Error()))
	}
	addr := net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
	conn, err := r.Destinations.dialer(r.Host).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", refused(r.Name, "connect", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var c *smtp.Client
	cfg := tlsConfig(r.Host, r.Roots)
	switch {
	case r.Insecure:
		if r.Log != nil {
			r.Log.Warn("delivering over SMTP without TLS: the provider has disableSsl set", "event", "delivery.insecure", "provider", r.Name)
		}
		c = smtp.NewClient(conn)
	case r.ImplicitTLS:
		c = smtp.NewClient(tls.Client(conn, cfg))
	default:
		c, err = smtp.NewClientStartTLS(conn, cfg)
		if err != nil {
			_ = conn.Close()
			return "", refused(r.Name, "starttls", err)
		}
	}
	defer c.Close()
	if r.LocalName != "" {
		if err := c.Hello(r.LocalName); err != nil {
			return "", refused(r.Name, "ehlo", err)
		}
	}
	if len(r.Password) > 0 {
		if _, ok := c.TLSConnectionState(); !ok {
			return "", refused(r.Name, "auth", errors.New("no TLS session: credentials are never sent in clear"))
		}
		if err := c.Auth(r.saslClient(c)); err != nil {
			return "", refused(r.Name, "auth", err)
		}
	}
	if err := c.Mail(from.Address, nil); err != nil {
		return "", refused(r.Name, "mail from", err)
	}
	if err := c.Rcpt(to.Address, nil); err != nil {
		return "", refused(r.Name, "rcpt to", peerOnly(err))
	}
	w, err := c.Data()
	if err != nil {
		return "", refused(r.Name, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", refused(r.Name, "data", peerOnly(err))
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", refused(r.Name, "data", peerOnly(err))
	}
	_ = c.Quit()
	return answer("250 " + resp.StatusText), nil
}

// saslClient picks PLAIN, or LOGIN where the relay offers only that.
func (r Relay) saslClient(c *smtp.Client) sasl.Client {
	if !c.SupportsAuth(sasl.Plain) && c.SupportsAuth(sasl.Login) {
		return sasl.NewLoginClient(r.Username, string(r.Password))
	}
	return sasl.NewPlainClient("", r.Username, string(r.Password))
}

// peerOnly keeps an SMTP error's code but not the relay's words, which
// may echo the recipient; a network error as it is.
func peerOnly(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return statusError(se.Code)
	}
	return err
}

// compose builds the message: headers checked for line breaks (no header
// injection), the body as UTF-8 plain text with CRLF line ends.
func compose(from, to *mail.Address, subject, body string) ([]byte, error) {
	if strings.ContainsAny(subject, "\r\n") {
		return nil, errors.New("subject holds a line break")
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%x@%s>\r\n", id, domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	for line := range strings.Lines(body) {
		b.WriteString(strings.TrimRight(line, "\r\n"))
		b.WriteString("\r\n")
	}
	return []byte(b.String()), nil
}

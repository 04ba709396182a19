package delivery

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Body encodings of a gateway's template.
const (
	// EncodeJSON puts each value JSON-escaped inside the template's
	// string literals; the request is application/json.
	EncodeJSON = "json"
	// EncodeForm puts each value URL-escaped into a form template; the
	// request is application/x-www-form-urlencoded.
	EncodeForm = "form"
)

// Placeholders a gateway's template carries.
const (
	PlaceholderPhone   = "{{phone}}"
	PlaceholderMessage = "{{message}}"
)

// TwilioURL is Twilio's Messages endpoint for an account SID.
func TwilioURL(accountSID string) string {
	return "https://api.twilio.com/2010-04-01/Accounts/" + url.PathEscape(accountSID) + "/Messages.json"
}

// TwilioTemplate is the form body Twilio's Messages endpoint takes, with
// from as the sending number: the example preset of a gateway.
func TwilioTemplate(from string) string {
	return "To=" + PlaceholderPhone + "&From=" + url.QueryEscape(from) + "&Body=" + PlaceholderMessage
}

// Gateway is an HTTPS SMS gateway, for one message at a time.
type Gateway struct {
	// Name is the provider's name, for errors and logs.
	Name string
	URL  string
	// Template is the request body with PlaceholderPhone and
	// PlaceholderMessage; Encoding says how values are escaped into it.
	Template string
	Encoding string
	// Username and Secret are sent as Basic auth; with AuthHeader set,
	// Secret alone is sent as that header's value instead. An empty
	// Secret sends no credentials.
	Username   string
	Secret     []byte
	AuthHeader string
	// Insecure allows an http:// URL (the provider's disableSsl), logged
	// at warning level at every use; credentials are then never sent.
	Insecure bool
	// Roots verifies the gateway's certificate; nil means the system roots.
	Roots *x509.CertPool
	// Destinations decides, at connect time, where the gateway may be;
	// nil means no allow list (never a loopback, link-local, … address).
	Destinations *Destinations
	Log          *slog.Logger
}

// CheckTemplate reports whether a template can carry a message: both
// placeholders present, and, for EncodeJSON, a valid JSON document once
// filled.
func CheckTemplate(tmpl, encoding string) error {
	if !strings.Contains(tmpl, PlaceholderPhone) || !strings.Contains(tmpl, PlaceholderMessage) {
		return fmt.Errorf("delivery: the template must contain %s and %s", PlaceholderPhone, PlaceholderMessage)
	}
	body, err := Render(tmpl, encoding, "+10000000000", "x\"\\\n<")
	if err != nil {
		return err
	}
	if encoding == EncodeJSON && !json.Valid([]byte(body)) {
		return errors.New("delivery: the template is not a JSON document with the placeholders inside string values")
	}
	return nil
}

// Render fills a template: each placeholder replaced by its value,
// escaped for the encoding, so no value can close a string or add a
// field. Text outside the placeholders is kept as is, and a value is
// never scanned for placeholders again.
func Render(tmpl, encoding, phone, message string) (string, error) {
	var esc func(string) string
	switch encoding {
	case EncodeJSON:
		esc = jsonEscape
	case EncodeForm:
		esc = url.QueryEscape
	default:
		return "", fmt.Errorf("delivery: body encoding must be %q or %q", EncodeJSON, EncodeForm)
	}
	r := strings.NewReplacer(PlaceholderPhone, esc(phone), PlaceholderMessage, esc(message))
	return r.Replace(tmpl), nil
}

// jsonEscape is s as the inside of a JSON string literal.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b[1 : len(b)-1])
}

// Send posts one message to phone and returns the gateway's answer.
// Any status but 2xx is a refusal.
func (g Gateway) Send(ctx context.Context, phone, message string) (string, error) {
	u, err := url.Parse(g.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", refused(g.Name, "url", settings("not an absolute http(s) URL"))
	}
	if u.Scheme != "https" {
		if !g.Insecure {
			return "", refused(g.Name, "url", settings("the gateway URL must be https (or set disableSsl)"))
		}
		if len(g.Secret) > 0 {
			return "", refused(g.Name, "auth", settings("disableSsl is set and a secret is configured: credentials are never sent without TLS"))
		}
	}
	if g.Insecure && g.Log != nil {
		g.Log.Warn("delivering SMS through a provider with disableSsl set", "event", "delivery.insecure", "provider", g.Name, "tls", u.Scheme == "https")
	}
	body, err := Render(g.Template, g.Encoding, phone, message)
	if err != nil {
		return "", refused(g.Name, "template", settings(err.Error()))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(body))
	if err != nil {
		return "", refused(g.Name, "request", err)
	}
	req.Header.Set("Content-Type", map[string]string{EncodeJSON: "application/json", EncodeForm: "application/x-www-form-urlencoded"}[g.Encoding])
	req.Header.Set("User-Agent", "accessd")
	if len(g.Secret) > 0 {
		if g.AuthHeader != "" {
			req.Header.Set(g.AuthHeader, string(g.Secret))
		} else {
			req.SetBasicAuth(g.Username, string(g.Secret))
		}
	}
	tr := &http.Transport{TLSClientConfig: tlsConfig(u.Hostname(), g.Roots), Proxy: nil, ForceAttemptHTTP2: true,
		DialContext: g.Destinations.dialer(u.Hostname()).DialContext}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry an account ID; the provider's name says which
		}
		return "", refused(g.Name, "post", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	out := answer(resp.Status + " " + string(b))
	if resp.StatusCode/100 != 2 {
		return out, refused(g.Name, "post", statusError(resp.StatusCode))
	}
	return out, nil
}

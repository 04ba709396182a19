package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func roots(t *testing.T, ca *deliverytest.CA) *delivery.Relay {
	t.Helper()
	r, err := delivery.Roots(ca.PEM)
	require.NoError(t, err)
	return &delivery.Relay{Name: "relay", Roots: r}
}

// loopback allows the tests' relays and gateways, which listen on
// 127.0.0.1.
func loopback(t testing.TB) *delivery.Destinations {
	t.Helper()
	d, err := delivery.NewDestinations([]string{"127.0.0.0/8", "::1"}, nil)
	require.NoError(t, err)
	return d
}

var mail = delivery.Email{From: "accessd@example.test", To: "alice@example.test", Subject: "Your code", Body: "Your code is 123456.\n"}

func TestRelay(t *testing.T) {
	t.Parallel()
	ca := deliverytest.NewCA(t)
	other := deliverytest.NewCA(t)
	pool, _ := delivery.Roots(ca.PEM)
	otherPool, _ := delivery.Roots(other.PEM)
	tests := []struct {
		name    string
		relay   deliverytest.RelayOptions
		client  delivery.Relay
		wantErr string // "" means delivered
		tls     bool
	}{
		{name: "starttls with auth", relay: deliverytest.RelayOptions{CA: ca, Username: "u", Password: "p"},
			client: delivery.Relay{Roots: pool, Username: "u", Password: []byte("p")}, tls: true},
		{name: "implicit tls", relay: deliverytest.RelayOptions{CA: ca, ImplicitTLS: true},
			client: delivery.Relay{Roots: pool, ImplicitTLS: true}, tls: true},
		{name: "certificate of another CA", relay: deliverytest.RelayOptions{CA: ca},
			client: delivery.Relay{Roots: otherPool}, wantErr: "certificate"},
		{name: "system roots do not know the test CA", relay: deliverytest.RelayOptions{CA: ca},
			client: delivery.Relay{}, wantErr: "certificate"},
		{name: "implicit tls, certificate of another CA", relay: deliverytest.RelayOptions{CA: ca, ImplicitTLS: true},
			client: delivery.Relay{Roots: otherPool, ImplicitTLS: true}, wantErr: "certificate"},
		{name: "no starttls offered", relay: deliverytest.RelayOptions{},
			client: delivery.Relay{}, wantErr: "STARTTLS"},
		{name: "no starttls offered, with a secret", relay: deliverytest.RelayOptions{Username: "u", Password: "p"},
			client: delivery.Relay{Username: "u", Password: []byte("p")}, wantErr: "STARTTLS"},
		{name: "disableSsl with a secret never sends it", relay: deliverytest.RelayOptions{Username: "u", Password: "p"},
			client: delivery.Relay{Insecure: true, Username: "u", Password: []byte("p")}, wantErr: "never sent without TLS"},
		{name: "disableSsl opt-in delivers in clear", relay: deliverytest.RelayOptions{},
			client: delivery.Relay{Insecure: true}},
		{name: "wrong credentials", relay: deliverytest.RelayOptions{CA: ca, Username: "u", Password: "p"},
			client: delivery.Relay{Roots: pool, Username: "u", Password: []byte("nope")}, wantErr: "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			srv := deliverytest.NewRelay(t, tt.relay)
			c := tt.client
			c.Name, c.Host, c.Port, c.Destinations = "relay", srv.Host, srv.Port, loopback(t)
			c.Log = slog.New(slog.NewTextHandler(&logs, nil))
			ans, err := c.Send(ctx(t), mail)
			require.False(t, srv.AuthInClear(), "AUTH was sent without TLS")
			if tt.wantErr != "" {
				require.ErrorIs(t, err, delivery.ErrRefused, "err = %v, want a refusal mentioning %q", err, tt.wantErr)
				require.ErrorContains(t, err, tt.wantErr, "err = %v, want a refusal mentioning %q", err, tt.wantErr)
				require.Empty(t, srv.Mails(), "a refused send delivered a message")
				return
			}
			require.NoError(t, err)
			m := srv.Next(t)
			require.Equal(t, tt.tls, m.TLS, "mail = %+v", m)
			require.Equal(t, []string{mail.To}, m.To, "mail = %+v", m)
			require.Contains(t, m.Data, "Your code is 123456.", "mail = %+v", m)
			require.True(t, strings.HasPrefix(ans, "250"), "answer = %q", ans)
			require.Equal(t, c.Insecure, strings.Contains(logs.String(), "level=WARN"), "disableSsl=%v but logs: %s", c.Insecure, logs.String())
			require.NotContains(t, logs.String(), mail.To, "the recipient or the code reached a log line")
			require.NotContains(t, logs.String(), "123456", "the recipient or the code reached a log line")
		})
	}
}

func TestRelayRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := deliverytest.NewRelay(t, deliverytest.RelayOptions{})
	c := delivery.Relay{Name: "relay", Host: srv.Host, Port: srv.Port, Insecure: true, Destinations: loopback(t)}
	for _, m := range []delivery.Email{
		{From: mail.From, To: "a@example.test\r\nBcc: x@example.test", Subject: "s", Body: "b"},
		{From: mail.From, To: mail.To, Subject: "s\r\nBcc: x@example.test", Body: "b"},
	} {
		_, err := c.Send(ctx(t), m)
		require.Error(t, err, "sent %+v", m)
	}
}

func TestGateway(t *testing.T) {
	t.Parallel()
	ca := deliverytest.NewCA(t)
	other := deliverytest.NewCA(t)
	pool, _ := delivery.Roots(ca.PEM)
	otherPool, _ := delivery.Roots(other.PEM)
	lo := loopback(t)
	const tmpl = `{"to":"{{phone}}","text":"{{message}}"}`
	msg := `code "123456" \ <b>`

	t.Run("json with basic auth", func(t *testing.T) {

		t.Parallel()
		g := deliverytest.NewGateway(t, ca, 0)
		c := delivery.Gateway{Name: "sms", URL: g.URL, Template: tmpl, Encoding: delivery.EncodeJSON, Username: "acct", Secret: []byte("tok"), Roots: pool, Destinations: lo}
		ans, err := c.Send(ctx(t), "+4915112345678", msg)
		require.NoError(t, err)
		r := g.Next(t)
		var body struct{ To, Text string }
		require.NoError(t, json.Unmarshal([]byte(r.Body), &body), "body %q", r.Body)
		require.Equal(t, "+4915112345678", body.To, "body %q: %+v", r.Body, body)
		require.Equal(t, msg, body.Text, "body %q: %+v", r.Body, body)
		require.Equal(t, "application/json", r.ContentType, "request %+v, answer %q", r, ans)
		require.Equal(t, "Basic YWNjdDp0b2s=", r.Authorization, "request %+v, answer %q", r, ans)
		require.Contains(t, ans, "201", "request %+v, answer %q", r, ans)
	})
	t.Run("twilio preset, header auth", func(t *testing.T) {
		t.Parallel()
		g := deliverytest.NewGateway(t, ca, 0)
		c := delivery.Gateway{Name: "sms", URL: g.URL, Template: delivery.TwilioTemplate("+15550000000"), Encoding: delivery.EncodeForm, Secret: []byte("key"), AuthHeader: "X-Api-Key", Roots: pool, Destinations: lo}
		_, err := c.Send(ctx(t), "+4915112345678", msg)
		require.NoError(t, err)
		r := g.Next(t)
		v, err := url.ParseQuery(r.Body)
		require.NoError(t, err, "body %q", r.Body)
		require.Equal(t, "+4915112345678", v.Get("To"), "body %q", r.Body)
		require.Equal(t, msg, v.Get("Body"), "body %q", r.Body)
		require.Equal(t, "+15550000000", v.Get("From"), "body %q", r.Body)
		require.Equal(t, "key", r.Header.Get("X-Api-Key"), "headers %v", r.Header)
		require.Empty(t, r.Authorization, "headers %v", r.Header)
	})
	for _, tt := range []struct {
		name string
		gw   func(url string) delivery.Gateway
		want string
	}{
		{"certificate of another CA", func(u string) delivery.Gateway {
			return delivery.Gateway{URL: u, Roots: otherPool}
		}, "certificate"},
		{"system roots", func(u string) delivery.Gateway { return delivery.Gateway{URL: u} }, "certificate"},
		{"plain http refused", func(u string) delivery.Gateway {
			return delivery.Gateway{URL: strings.Replace(u, "https:", "http:", 1), Roots: pool}
		}, "must be https"},
		{"plain http with a secret even with disableSsl", func(u string) delivery.Gateway {
			return delivery.Gateway{URL: strings.Replace(u, "https:", "http:", 1), Insecure: true, Secret: []byte("s")}
		}, "never sent without TLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := deliverytest.NewGateway(t, ca, 0)
			c := tt.gw(g.URL)
			c.Name, c.Template, c.Encoding, c.Destinations = "sms", tmpl, delivery.EncodeJSON, lo
			_, err := c.Send(ctx(t), "+4915112345678", msg)
			require.ErrorIs(t, err, delivery.ErrRefused, "err = %v, want %q", err, tt.want)
			require.ErrorContains(t, err, tt.want, "err = %v, want %q", err, tt.want)
			require.Zero(t, g.Count(), "the gateway got a request")
		})
	}
	t.Run("non-2xx is a refusal", func(t *testing.T) {
		t.Parallel()
		g := deliverytest.NewGateway(t, ca, 400)
		c := delivery.Gateway{Name: "sms", URL: g.URL, Template: tmpl, Encoding: delivery.EncodeJSON, Roots: pool, Destinations: lo}
		ans, err := c.Send(ctx(t), "+4915112345678", msg)
		require.Error(t, err, "answer %q", ans)
		require.Contains(t, ans, "400", "answer %q err %v", ans, err)
		require.NotContains(t, err.Error(), "+4915112345678", "answer %q err %v", ans, err)
	})
}

func TestCheckTemplate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tmpl, enc string
		ok        bool
	}{
		{`{"to":"{{phone}}","text":"{{message}}"}`, delivery.EncodeJSON, true},
		{`{"to":{{phone}},"text":"{{message}}"}`, delivery.EncodeJSON, false},
		{`{"to":"{{phone}}"}`, delivery.EncodeJSON, false},
		{delivery.TwilioTemplate("+1555"), delivery.EncodeForm, true},
		{`x`, "xml", false},
	} {
		err := delivery.CheckTemplate(tt.tmpl, tt.enc)
		assert.Equal(t, tt.ok, err == nil, "CheckTemplate(%q, %q) = %v", tt.tmpl, tt.enc, err)
	}
}

package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

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
	if err != nil {
		t.Fatal(err)
	}
	return &delivery.Relay{Name: "relay", Roots: r}
}

var mail = delivery.Email{From: "accessd@example.test", To: "alice@example.test", Subject: "Your code", Body: "Your code is 123456.\n"}

func TestRelay(t *testing.T) {
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
			var logs bytes.Buffer
			srv := deliverytest.NewRelay(t, tt.relay)
			c := tt.client
			c.Name, c.Host, c.Port = "relay", srv.Host, srv.Port
			c.Log = slog.New(slog.NewTextHandler(&logs, nil))
			ans, err := c.Send(ctx(t), mail)
			if srv.AuthInClear() {
				t.Fatal("AUTH was sent without TLS")
			}
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, delivery.ErrRefused) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a refusal mentioning %q", err, tt.wantErr)
				}
				if len(srv.Mails()) != 0 {
					t.Fatal("a refused send delivered a message")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := srv.Next(t)
			if m.TLS != tt.tls || len(m.To) != 1 || m.To[0] != mail.To || !strings.Contains(m.Data, "Your code is 123456.") {
				t.Fatalf("mail = %+v", m)
			}
			if !strings.HasPrefix(ans, "250") {
				t.Fatalf("answer = %q", ans)
			}
			if c.Insecure != strings.Contains(logs.String(), "level=WARN") {
				t.Fatalf("disableSsl=%v but logs: %s", c.Insecure, logs.String())
			}
			if strings.Contains(logs.String(), mail.To) || strings.Contains(logs.String(), "123456") {
				t.Fatal("the recipient or the code reached a log line")
			}
		})
	}
}

func TestRelayRefusesHeaderInjection(t *testing.T) {
	srv := deliverytest.NewRelay(t, deliverytest.RelayOptions{})
	c := delivery.Relay{Name: "relay", Host: srv.Host, Port: srv.Port, Insecure: true}
	for _, m := range []delivery.Email{
		{From: mail.From, To: "a@example.test\r\nBcc: x@example.test", Subject: "s", Body: "b"},
		{From: mail.From, To: mail.To, Subject: "s\r\nBcc: x@example.test", Body: "b"},
	} {
		if _, err := c.Send(ctx(t), m); err == nil {
			t.Fatalf("sent %+v", m)
		}
	}
}

func TestGateway(t *testing.T) {
	ca := deliverytest.NewCA(t)
	other := deliverytest.NewCA(t)
	pool, _ := delivery.Roots(ca.PEM)
	otherPool, _ := delivery.Roots(other.PEM)
	const tmpl = `{"to":"{{phone}}","text":"{{message}}"}`
	msg := `code "123456" \ <b>`

	t.Run("json with basic auth", func(t *testing.T) {
		g := deliverytest.NewGateway(t, ca, 0)
		c := delivery.Gateway{Name: "sms", URL: g.URL, Template: tmpl, Encoding: delivery.EncodeJSON, Username: "acct", Secret: []byte("tok"), Roots: pool}
		ans, err := c.Send(ctx(t), "+4915112345678", msg)
		if err != nil {
			t.Fatal(err)
		}
		r := g.Next(t)
		var body struct{ To, Text string }
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.To != "+4915112345678" || body.Text != msg {
			t.Fatalf("body %q: %+v %v", r.Body, body, err)
		}
		if r.ContentType != "application/json" || r.Authorization != "Basic YWNjdDp0b2s=" || !strings.Contains(ans, "201") {
			t.Fatalf("request %+v, answer %q", r, ans)
		}
	})
	t.Run("twilio preset, header auth", func(t *testing.T) {
		g := deliverytest.NewGateway(t, ca, 0)
		c := delivery.Gateway{Name: "sms", URL: g.URL, Template: delivery.TwilioTemplate("+15550000000"), Encoding: delivery.EncodeForm, Secret: []byte("key"), AuthHeader: "X-Api-Key", Roots: pool}
		if _, err := c.Send(ctx(t), "+4915112345678", msg); err != nil {
			t.Fatal(err)
		}
		r := g.Next(t)
		v, err := url.ParseQuery(r.Body)
		if err != nil || v.Get("To") != "+4915112345678" || v.Get("Body") != msg || v.Get("From") != "+15550000000" {
			t.Fatalf("body %q", r.Body)
		}
		if r.Header.Get("X-Api-Key") != "key" || r.Authorization != "" {
			t.Fatalf("headers %v", r.Header)
		}
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
			g := deliverytest.NewGateway(t, ca, 0)
			c := tt.gw(g.URL)
			c.Name, c.Template, c.Encoding = "sms", tmpl, delivery.EncodeJSON
			_, err := c.Send(ctx(t), "+4915112345678", msg)
			if err == nil || !errors.Is(err, delivery.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if g.Count() != 0 {
				t.Fatal("the gateway got a request")
			}
		})
	}
	t.Run("non-2xx is a refusal", func(t *testing.T) {
		g := deliverytest.NewGateway(t, ca, 400)
		c := delivery.Gateway{Name: "sms", URL: g.URL, Template: tmpl, Encoding: delivery.EncodeJSON, Roots: pool}
		ans, err := c.Send(ctx(t), "+4915112345678", msg)
		if err == nil || !strings.Contains(ans, "400") || strings.Contains(err.Error(), "+4915112345678") {
			t.Fatalf("answer %q err %v", ans, err)
		}
	})
}

func TestCheckTemplate(t *testing.T) {
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
		if err := delivery.CheckTemplate(tt.tmpl, tt.enc); (err == nil) != tt.ok {
			t.Errorf("CheckTemplate(%q, %q) = %v", tt.tmpl, tt.enc, err)
		}
	}
}

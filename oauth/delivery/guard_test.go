package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/store"
)

const smsTemplate = `{"to":"{{phone}}","text":"{{message}}"}`

// providersEnv is a directory over a real store and a Providers over it
// with dest, logging to logs.
type providersEnv struct {
	*directorytest.Env
	prov *delivery.Providers
	logs *bytes.Buffer
	ops  change.Actor // a data-plane bearer without a tenant
}

func newProviders(t *testing.T, dest *delivery.Destinations) *providersEnv {
	t.Helper()
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{})
	var logs bytes.Buffer
	p := delivery.NewProviders(e.Store, delivery.ProviderOptions{Audit: e.Audit, Directory: e.Service.Tenants(), Destinations: dest,
		Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: e.Clock.Now})
	u := e.User(t, "ops")
	return &providersEnv{Env: e, prov: p, logs: &logs, ops: change.Actor{Name: "user:" + u.ID, SubjectID: u.ID, Source: "192.0.2.7"}}
}

func str(s string) *string { return &s }

// TestSecretNeedsResendToMove: with a stored secret, a PATCH that
// changes where or how it is sent (here url and caPem, the reported
// attack: repoint, then test) is refused, naming clientSecret and the
// field, and the attacker's gateway receives nothing; the same PATCH
// with the secret is accepted and sends only the new secret. Fields that
// do not carry the secret elsewhere change without it.
func TestSecretNeedsResendToMove(t *testing.T) {
	t.Parallel()
	e := newProviders(t, loopback(t))
	ctx := context.Background()
	caA, caB := deliverytest.NewCA(t), deliverytest.NewCA(t)
	gwA, gwB := deliverytest.NewGateway(t, caA, 0), deliverytest.NewGateway(t, caB, 0)
	_, err := e.prov.CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "sms", Category: api.ProviderSMS, URL: gwA.URL,
		Template: smsTemplate, CAPEM: caA.PEM, ClientID: "acct", ClientSecret: "gateway-Secret-1"})
	require.NoError(t, err)

	_, err = e.prov.UpdateProvider(ctx, admin, "sms", api.UpdateProviderRequest{URL: &gwB.URL, CAPEM: &caB.PEM})
	require.ErrorIs(t, err, api.ErrMissingRequired)
	require.ErrorContains(t, err, "clientSecret")
	require.ErrorContains(t, err, "url")
	res, err := e.prov.TestProvider(ctx, admin, "sms", "+4915112345678")
	require.NoError(t, err)
	require.True(t, res.Delivered, "%+v", res)
	require.Zero(t, gwB.Count(), "the stored secret's provider was repointed without the secret")
	require.Equal(t, "Basic YWNjdDpnYXRld2F5LVNlY3JldC0x", gwA.Next(t).Authorization)

	for name, req := range map[string]api.UpdateProviderRequest{
		"caPem":      {CAPEM: &caB.PEM},
		"clientId":   {ClientID: str("other")},
		"authHeader": {AuthHeader: str("X-Key")},
		"type":       {Type: str(api.ProviderHTTPForm), Template: str("to={{phone}}&m={{message}}")},
		"disableSsl": {DisableSSL: new(bool(true))},
	} {
		_, err := e.prov.UpdateProvider(ctx, admin, "sms", req)
		require.ErrorIs(t, err, api.ErrMissingRequired, name)
		require.ErrorContains(t, err, name)
	}
	_, err = e.prov.UpdateProvider(ctx, admin, "sms", api.UpdateProviderRequest{Template: str(`{"phone":"{{phone}}","text":"{{message}}"}`)})
	require.NoError(t, err, "a template change sends the secret nowhere new")
	_, err = e.prov.UpdateProvider(ctx, admin, "sms", api.UpdateProviderRequest{URL: &gwA.URL})
	require.NoError(t, err, "setting the same url moves nothing")

	_, err = e.prov.UpdateProvider(ctx, admin, "sms", api.UpdateProviderRequest{URL: &gwB.URL, CAPEM: &caB.PEM, ClientSecret: str("gateway-Secret-2")})
	require.NoError(t, err)
	res, err = e.prov.TestProvider(ctx, admin, "sms", "+4915112345678")
	require.NoError(t, err)
	require.True(t, res.Delivered, "%+v", res)
	require.Equal(t, "Basic YWNjdDpnYXRld2F5LVNlY3JldC0y", gwB.Next(t).Authorization, "only the secret entered with the new url goes there")

	// An e-mail provider: host and port.
	relay := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: caA, Username: "u", Password: "relay-Secret"})
	_, err = e.prov.CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "relay", Category: api.ProviderEmail, Host: relay.Host, Port: relay.Port,
		From: "a@example.test", CAPEM: caA.PEM, ClientID: "u", ClientSecret: "relay-Secret"})
	require.NoError(t, err)
	for name, req := range map[string]api.UpdateProviderRequest{"host": {Host: str("127.0.0.2")}, "port": {Port: new(relay.Port + 1)}} {
		_, err := e.prov.UpdateProvider(ctx, admin, "relay", req)
		require.ErrorIs(t, err, api.ErrMissingRequired, name)
		require.ErrorContains(t, err, name)
	}
}

// TestDisableSSLAdminOnly: disableSsl is refused on the data plane, at
// creation and update, and a provider that has it is not repointed
// there; set on the admin socket, every send through it logs
// delivery.insecure.
func TestDisableSSLAdminOnly(t *testing.T) {
	t.Parallel()
	e := newProviders(t, loopback(t))
	ctx := context.Background()
	relay := deliverytest.NewRelay(t, deliverytest.RelayOptions{})
	body := api.CreateProviderRequest{Name: "0evil", Category: api.ProviderEmail, Host: relay.Host, Port: relay.Port, From: "a@example.test", DisableSSL: true}
	_, err := e.prov.CreateProvider(ctx, e.ops, body)
	require.ErrorIs(t, err, api.ErrForbidden)
	require.ErrorContains(t, err, "disableSsl")

	body.Name, body.DisableSSL = "relay", false
	_, err = e.prov.CreateProvider(ctx, e.ops, body)
	require.NoError(t, err, "the data plane creates a provider inside allow_hosts")
	_, err = e.prov.UpdateProvider(ctx, e.ops, "relay", api.UpdateProviderRequest{DisableSSL: new(true)})
	require.ErrorIs(t, err, api.ErrForbidden)

	_, err = e.prov.UpdateProvider(ctx, admin, "relay", api.UpdateProviderRequest{DisableSSL: new(true)})
	require.NoError(t, err)
	_, err = e.prov.UpdateProvider(ctx, e.ops, "relay", api.UpdateProviderRequest{Port: new(relay.Port + 1)})
	require.ErrorIs(t, err, api.ErrForbidden, "a provider with disableSsl is changed on the admin socket only")
	_, err = e.prov.UpdateProvider(ctx, e.ops, "relay", api.UpdateProviderRequest{DisableSSL: new(false)})
	require.NoError(t, err, "turning TLS back on is allowed anywhere")
	_, err = e.prov.UpdateProvider(ctx, admin, "relay", api.UpdateProviderRequest{DisableSSL: new(true)})
	require.NoError(t, err)

	for i := range 2 {
		res, err := e.prov.TestProvider(ctx, admin, "relay", fmt.Sprintf("u%d@example.test", i))
		require.NoError(t, err)
		require.True(t, res.Delivered, "%+v", res)
		relay.Next(t)
		require.Equal(t, i+1, strings.Count(e.logs.String(), "event=delivery.insecure"), "every send logs it: %s", e.logs.String())
	}
}

// TestDefaultIsChosenNeverFirstByName: a later provider named to sort
// first ("0evil") delivers nothing until chosen; becoming a default is
// audited, however it happens; two defaults of one category (a store
// changed by hand) choose none rather than the first by name.
func TestDefaultIsChosenNeverFirstByName(t *testing.T) {
	t.Parallel()
	e := newProviders(t, loopback(t))
	ctx := context.Background()
	for _, name := range []string{"sms", "0evil"} {
		_, err := e.prov.CreateProvider(ctx, admin, api.CreateProviderRequest{Name: name, Category: api.ProviderSMS, URL: "https://" + name + ".example.test/send", Template: smsTemplate})
		require.NoError(t, err)
	}
	p, err := e.prov.ProviderFor("", api.ProviderSMS)
	require.NoError(t, err)
	require.Equal(t, "sms", p.Name)
	defaults := func() []string {
		es, err := e.Review.AuditList(time.Time{}, "provider.set_default", 0)
		require.NoError(t, err)
		var out []string
		for _, en := range es {
			out = append(out, en.Detail["name"])
		}
		return out
	}
	require.Equal(t, []string{"sms"}, defaults(), "the first provider's default is audited as one")
	_, err = e.prov.SetDefaultProvider(ctx, admin, "0evil")
	require.NoError(t, err)
	require.Equal(t, []string{"sms", "0evil"}, defaults())

	_, err = e.Store.Providers().Update("sms", func(p store.Provider) (store.Provider, error) { p.Default = true; return p, nil })
	require.NoError(t, err)
	_, err = e.prov.ProviderFor("", api.ProviderSMS)
	require.ErrorIs(t, err, api.ErrUnavailable, "two defaults choose none")
}

// TestDestinationsAtConnect: a relay and a gateway on loopback are
// refused without allow_hosts, before any byte is sent, also when named
// by a host name that resolves there (the check is on the dialled
// address); reached with it. The daemon's own listen address needs the
// address itself listed, a prefix around it is not enough.
func TestDestinationsAtConnect(t *testing.T) {
	t.Parallel()
	ca := deliverytest.NewCA(t)
	pool, _ := delivery.Roots(ca.PEM)
	relay := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	gw := deliverytest.NewGateway(t, ca, 0)
	_, gwPort, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(gw.URL, "/send"), "https://"))
	dests := func(allow []string, listen ...string) *delivery.Destinations {
		d, err := delivery.NewDestinations(allow, listen)
		require.NoError(t, err)
		return d
	}
	for _, tt := range []struct {
		name string
		d    *delivery.Destinations
		url  string // empty: gw.URL
		ok   bool
	}{
		{name: "no allow list", d: nil},
		{name: "empty allow list", d: dests(nil)},
		{name: "another address listed", d: dests([]string{"127.0.0.2", "10.0.0.0/8"})},
		{name: "a name resolving to loopback", d: nil, url: "https://localhost:" + gwPort + "/send"},
		{name: "loopback listed", d: dests([]string{"127.0.0.0/8"}), ok: true},
		{name: "the name listed", d: dests([]string{"localhost"}), url: "https://localhost:" + gwPort + "/send", ok: true},
		{name: "own address inside a listed prefix", d: dests([]string{"127.0.0.0/8"}, "127.0.0.1:"+gwPort)},
		{name: "own wildcard address", d: dests([]string{"127.0.0.0/8"}, ":"+gwPort)},
		{name: "own address listed itself", d: dests([]string{"127.0.0.1"}, "127.0.0.1:"+gwPort), ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if u == "" {
				u = gw.URL
			}
			before := gw.Count()
			_, err := delivery.Gateway{Name: "sms", URL: u, Template: smsTemplate, Encoding: delivery.EncodeJSON, Roots: pool, Destinations: tt.d}.Send(ctx(t), "+4915112345678", "m")
			if tt.ok {
				require.NoError(t, err)
				gw.Next(t)
				return
			}
			require.ErrorIs(t, err, delivery.ErrDestination)
			require.Equal(t, "destination not allowed", delivery.Class(err))
			require.Equal(t, before, gw.Count())
		})
	}
	r := delivery.Relay{Name: "relay", Host: relay.Host, Port: relay.Port, Roots: pool}
	_, err := r.Send(ctx(t), mail)
	require.ErrorIs(t, err, delivery.ErrDestination)
	require.Empty(t, relay.Mails())
	r.Destinations = dests([]string{"127.0.0.1"})
	_, err = r.Send(ctx(t), mail)
	require.NoError(t, err)
	require.NotEmpty(t, relay.Mails())
}

// TestDestinationsWhenSet: on the data plane a destination must be
// inside allow_hosts; the admin socket may set any other, except one
// that is never a destination (loopback, also by the name localhost)
// unless listed.
func TestDestinationsWhenSet(t *testing.T) {
	t.Parallel()
	d, err := delivery.NewDestinations([]string{"relay.example.test", "10.1.0.0/16"}, nil)
	require.NoError(t, err)
	e := newProviders(t, d)
	ctx := context.Background()
	for _, tt := range []struct {
		host          string
		data, onAdmin error // nil: accepted
	}{
		{"relay.example.test", nil, nil},
		{"RELAY.example.test.", nil, nil},
		{"10.1.2.3", nil, nil},
		{"mail.example.test", api.ErrForbidden, nil},
		{"10.2.0.1", api.ErrForbidden, nil},
		{"127.0.0.1", api.ErrInvalidField, api.ErrInvalidField},
		{"::1", api.ErrInvalidField, api.ErrInvalidField},
		{"169.254.169.254", api.ErrInvalidField, api.ErrInvalidField},
		{"0.0.0.0", api.ErrInvalidField, api.ErrInvalidField},
		{"localhost", api.ErrInvalidField, api.ErrInvalidField},
	} {
		for _, plane := range []struct {
			a    change.Actor
			want error
		}{{e.ops, tt.data}, {admin, tt.onAdmin}} {
			p, err := e.prov.CreateProvider(ctx, plane.a, api.CreateProviderRequest{Name: "r-" + strconv.FormatBool(plane.a.Admin), Category: api.ProviderEmail, Host: tt.host, From: "a@example.test"})
			if plane.want != nil {
				require.ErrorIs(t, err, plane.want, "%s by %s", tt.host, plane.a.Name)
				continue
			}
			require.NoError(t, err, "%s by %s", tt.host, plane.a.Name)
			require.NoError(t, e.prov.DeleteProvider(ctx, admin, p.ID))
		}
	}
	// Moving a provider's url on the data plane: the same rule.
	_, err = e.prov.CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "sms", Category: api.ProviderSMS, URL: "https://sms.example.test/send", Template: smsTemplate})
	require.NoError(t, err)
	_, err = e.prov.UpdateProvider(ctx, e.ops, "sms", api.UpdateProviderRequest{URL: str("https://10.9.9.9/send")})
	require.ErrorIs(t, err, api.ErrForbidden)
	_, err = e.prov.UpdateProvider(ctx, e.ops, "sms", api.UpdateProviderRequest{URL: str("https://10.1.9.9/send")})
	require.NoError(t, err)
	_, err = e.prov.UpdateProvider(ctx, e.ops, "sms", api.UpdateProviderRequest{Template: str(`{"n":"{{phone}}","m":"{{message}}"}`)})
	require.NoError(t, err, "a change that does not move the provider needs no allow_hosts")
}

// TestTestAnswerIsAClass: a test send answers "delivered" or a fixed
// class, never what the peer said: an internal service's 500 body, a
// refused connection, a certificate of another CA, a loopback service
// that is not allowed (an existing provider from before the upgrade,
// which the start-up migration names in the log).
func TestTestAnswerIsAClass(t *testing.T) {
	t.Parallel()
	ca, other := deliverytest.NewCA(t), deliverytest.NewCA(t)
	const internal = "INTERNAL-service-answer-7d1f"
	// internalService answers 500 with a body an attacker would like
	// to read, and counts the requests it got.
	internalService := func(t *testing.T) (string, *atomic.Int32) {
		var hits atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("X-Internal", internal)
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, internal)
		}))
		srv.TLS = ca.ServerTLS(t)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL + "/send", &hits
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "https://" + closed.Addr().String() + "/send"
	require.NoError(t, closed.Close())

	ctx := context.Background()
	for _, tt := range []struct {
		name, url, ca string
		allowed       bool
		want          string
	}{
		{"remote body", "", ca.PEM, true, "rejected by provider (status 500)"},
		{"connection refused", closedURL, ca.PEM, true, "connection refused"},
		{"certificate of another CA", "", other.PEM, true, "tls handshake failed"},
		{"loopback not allowed", "", ca.PEM, false, "destination not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, hits := internalService(t)
			if tt.url != "" {
				u = tt.url
			}
			var d *delivery.Destinations
			if tt.allowed {
				d = loopback(t)
			}
			e := newProviders(t, d)
			// Stored as a provider made before the upgrade would be.
			_, err := e.Store.Providers().Create(store.Provider{ID: "0b9e2f4c-5d6a-4e7b-8c9d-0e1f2a3b4c5d", Name: "sms", Category: api.ProviderSMS,
				Type: api.ProviderHTTP, URL: u, Template: smsTemplate, CAPEM: tt.ca, Default: true})
			require.NoError(t, err)
			require.NoError(t, e.prov.MigrateProviders(ctx))
			require.Equal(t, !tt.allowed, strings.Contains(e.logs.String(), "provider.destination_not_allowed"), e.logs.String())
			before := hits.Load()
			res, err := e.prov.TestProvider(ctx, admin, "sms", "+4915112345678")
			require.NoError(t, err)
			out, _ := json.Marshal(res)
			require.False(t, res.Delivered, "%s", out)
			require.Equal(t, tt.want, res.Error, "%s", out)
			require.NotContains(t, string(out), internal)
			require.NotContains(t, string(out), "Internal Server Error")
			if !tt.allowed {
				require.Equal(t, before, hits.Load(), "a refused destination was reached")
			}
			if tt.want == "rejected by provider (status 500)" {
				require.Equal(t, before+1, hits.Load())
			}
		})
	}
}

// TestSendLimits: 30 test sends to 30 numbers do not all go out: each
// caller gets 5, the provider 10 (then 429 with a wait, per caller, per
// provider, per destination); code sends have their own provider budget
// and share the destination's; every refusal is counted in metrics.
func TestSendLimits(t *testing.T) {
	t.Parallel()
	ca := deliverytest.NewCA(t)
	gw := deliverytest.NewGateway(t, ca, 0)
	e := newProviders(t, loopback(t))
	reg := prometheus.NewRegistry()
	require.NoError(t, e.prov.Metrics().Register(reg))
	ctx := context.Background()
	_, err := e.prov.CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "sms", Category: api.ProviderSMS, URL: gw.URL, Template: smsTemplate, CAPEM: ca.PEM})
	require.NoError(t, err)
	number := func(i int) string { return fmt.Sprintf("+49151%08d", i) }
	caller := func(i int) change.Actor {
		return change.Actor{Name: fmt.Sprintf("uid:%d", i), Source: "admin-socket", Admin: true}
	}
	limited := func(err error, limit string) {
		t.Helper()
		var rl *delivery.ErrRateLimited
		require.ErrorAs(t, err, &rl)
		require.ErrorIs(t, err, api.ErrRateLimited)
		require.Equal(t, limit, rl.Limit)
		require.Positive(t, rl.RetryAfter)
	}
	sent := 0
	for i := range 30 {
		res, err := e.prov.TestProvider(ctx, caller(0), "sms", number(i))
		if i < 5 {
			require.NoError(t, err)
			require.True(t, res.Delivered, "%+v", res)
			gw.Next(t)
			sent++
			continue
		}
		limited(err, "caller")
	}
	for i := range 5 {
		_, err := e.prov.TestProvider(ctx, caller(1), "sms", number(100+i))
		require.NoError(t, err)
		gw.Next(t)
		sent++
	}
	limited(func() error { _, err := e.prov.TestProvider(ctx, caller(2), "sms", number(200)); return err }(), "provider")
	require.Equal(t, sent, gw.Count())

	// One number: its bucket is shared by test and code sends.
	e.Clock.Add(time.Hour)
	for i := range 5 {
		_, err := e.prov.TestProvider(ctx, caller(10+i), "sms", number(300))
		require.NoError(t, err)
		gw.Next(t)
	}
	p, err := e.prov.ProviderFor("", api.ProviderSMS)
	require.NoError(t, err)
	_, err = e.prov.Send(ctx, p, number(300), "s", "code")
	limited(err, "destination")
	e.Clock.Add(2 * time.Minute)
	_, err = e.prov.Send(ctx, p, number(300), "s", "code")
	require.NoError(t, err, "the destination's bucket refills")
	gw.Next(t)

	// Code sends: the provider's own budget, 120 at once.
	e.Clock.Add(time.Hour)
	for i := range 120 {
		_, err := e.prov.Send(ctx, p, number(1000+i), "s", "code")
		require.NoError(t, err, i)
		gw.Next(t)
	}
	_, err = e.prov.Send(ctx, p, number(2000), "s", "code")
	limited(err, "provider")

	require.Equal(t, map[string]float64{
		`kind="test",limit="caller"`: 25, `kind="test",limit="provider"`: 1, `kind="code",limit="destination"`: 1, `kind="code",limit="provider"`: 1,
	}, counters(t, reg, "accessd_delivery_rate_limited_total"))
}

// counters reads a counter vector's values by their labels.
func counters(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[strings.Join(ls, ",")] = m.GetCounter().GetValue()
		}
	}
	return out
}

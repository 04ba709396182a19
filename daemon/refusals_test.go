package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// TestRefusalFloodSummarisedAndFlushedAtStop: an application token with
// no permissions makes 200 denied /v1/authorize calls and 200 denied
// Identity calls on the real data plane (TLS, the daemon's wiring). The
// audit log gets 3 entries of each in full while it runs and one summary
// of each at the stop, counting the other 197; the metrics count all
// 200.
func TestRefusalFloodSummarisedAndFlushedAtStop(t *testing.T) {
	st, idp := testStoreIdentity(t)
	m := newMetrics(nil)
	require.NoError(t, idp.registerMetrics(m.reg))
	data, _ := routes(planeDeps{store: st, identity: idp, log: quiet, metrics: m,
		status: func() api.Status { return api.Status{Version: "test"} }, dataDir: t.TempDir()})
	p := startDataPlaneWith(t, data, m, connLimits{Total: 64, PerAddress: 16, PressureIdle: time.Minute}, nil)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	base := "https://" + p.addr

	app, err := idp.svc.Applications().CreateApplication(context.Background(), change.System, api.CreateApplicationRequest{Name: "no-grants"})
	require.NoError(t, err)
	body, _ := json.Marshal(api.TokenRequest{GrantType: "client_credentials", ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	resp, err := hc.Post(base+"/v1/login/oauth/access_token", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	var tok api.TokenResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	require.NotEmpty(t, tok.AccessToken)

	do := func(method, path, body string) int {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if path == "/v1/authorize" {
			var d api.AuthorizeResponse
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&d))
			require.False(t, d.Authorized)
		}
		return resp.StatusCode
	}
	decision := `{"sub":"` + app.ClientID + `","product":"midaz","resource":"accounts","action":"delete"}`
	for range 200 {
		require.Equal(t, http.StatusOK, do("POST", "/v1/authorize", decision))
		require.Equal(t, http.StatusForbidden, do("GET", "/v1/users", ""))
	}
	count := func(typ string) []store.AuditEntry {
		var out []store.AuditEntry
		require.NoError(t, audit.Scan(st, 1, func(e store.AuditEntry) (bool, error) {
			if e.Type == typ {
				out = append(out, e)
			}
			return true, nil
		}))
		return out
	}
	require.NoError(t, idp.audit.Sync())
	require.Equal(t, 3, len(count("authz.deny")), "200 denied decisions: the first 3 in full")
	require.Equal(t, 3, len(count("authz.denied")), "200 denied Identity calls: the first 3 in full")

	idp.close() // what a clean stop does after draining the listeners
	for _, typ := range []string{"authz.deny", "authz.denied"} {
		es := count(typ)
		require.Equal(t, 4, len(es), "%s: 3 in full and the summary written at the stop", typ)
		s := es[3]
		require.Equal(t, "summary", s.Source, typ)
		require.Equal(t, "app:"+app.ClientID, s.Actor, typ)
		require.Equal(t, "197", s.Detail["count"], "%s: no denial lost at a clean stop", typ)
		require.Equal(t, "127.0.0.1", s.Detail["sources"], typ)
	}
	require.Equal(t, 200.0, counterWith(t, m, "accessd_authorize_decisions_total", map[string]string{"result": "denied"}))
	require.Equal(t, 3.0, counterWith(t, m, "accessd_audit_refusals_total", map[string]string{"type": "authz.denied", "written": "full"}))
	require.Equal(t, 197.0, counterWith(t, m, "accessd_audit_refusals_total", map[string]string{"type": "authz.denied", "written": "summary"}))
	require.Equal(t, 197.0, counterWith(t, m, "accessd_audit_refusals_total", map[string]string{"type": "authz.deny", "written": "summary"}))
}

// counterWith reads the counter name{labels} of m's registry.
func counterWith(t *testing.T, m *metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, c := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range c.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return c.GetCounter().GetValue()
		}
	}
	require.Fail(t, "no such counter", "%s%v", name, labels)
	return 0
}

// TestJournalCopyHasNoDetail: the journal's copy of an audit entry (here
// the JSON log line written when journald does not listen) carries no
// detail, so the username a failed sign-in attempted stays in the sealed
// store.
func TestJournalCopyHasNoDetail(t *testing.T) {
	if journal.Enabled() {
		t.Skip("journald listens here: the copy goes there natively, with the fields of the log line")
	}
	var buf bytes.Buffer
	emit := journalEmitter(slog.New(slog.NewJSONHandler(&buf, nil)))
	emit(store.AuditEntry{Seq: 7, Type: "user.login", Actor: "client:console", Target: "unknown-user", Result: "failed",
		Source: "198.51.100.7", Detail: map[string]string{"username": "mallory-guess-7f3a"}})
	out := buf.String()
	require.Contains(t, out, `"type":"user.login"`)
	require.Contains(t, out, `"target":"unknown-user"`)
	require.NotContains(t, out, "mallory-guess-7f3a")
}

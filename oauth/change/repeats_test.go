package change_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

// repeatsEnv is a Repeats over a real store's audit log.
type repeatsEnv struct {
	st  *store.Store
	al  *audit.Log
	rep *change.Repeats
	reg *prometheus.Registry
}

func newRepeatsEnv(t *testing.T) *repeatsEnv {
	t.Helper()
	st := storetest.Open(t)
	al, err := audit.Open(st, storetest.Queue(t, st), audit.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { al.Close() })
	rep := change.NewRepeats(al, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(rep.Collector()))
	return &repeatsEnv{st: st, al: al, rep: rep, reg: reg}
}

// entries lists the audit entries of type typ written so far.
func (e *repeatsEnv) entries(t *testing.T, typ string) []store.AuditEntry {
	t.Helper()
	require.NoError(t, e.al.Sync())
	var out []store.AuditEntry
	require.NoError(t, audit.Scan(e.st, 1, func(en store.AuditEntry) (bool, error) {
		if en.Type == typ {
			out = append(out, en)
		}
		return true, nil
	}))
	return out
}

// written reads accessd_audit_refusals_total{type=typ, written=how}.
func (e *repeatsEnv) written(t *testing.T, typ, how string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["written"] == how {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func denial(actor, source, resource, action string) store.AuditEntry {
	return store.AuditEntry{Type: "authz.deny", Actor: actor, Target: "lerian/" + actor, Result: "denied", Source: source,
		Detail: map[string]string{"resource": resource, "action": action, "reason": "no-permission"}}
}

func key(resource, action string) map[string]string {
	return map[string]string{"resource": resource, "action": action}
}

func summaries(es []store.AuditEntry) []store.AuditEntry {
	var out []store.AuditEntry
	for _, e := range es {
		if e.Source == "summary" {
			out = append(out, e)
		}
	}
	return out
}

// TestRepeatsFlood: 200 identical denials write 3 entries in full at
// once and one summary counting the other 197 when the minute ends;
// every one is counted in the metric.
func TestRepeatsFlood(t *testing.T) {
	t.Parallel()
	e := newRepeatsEnv(t)
	ctx := context.Background()
	for i := range 200 {
		e.rep.Refuse(ctx, "app:flood", key("accounts", "delete"), denial("app:flood", fmt.Sprintf("192.0.2.%d", i%3), "accounts", "delete"))
	}
	full := e.entries(t, "authz.deny")
	require.Equal(t, 3, len(full), "the first few are written in full, before the caller is answered")
	for _, en := range full {
		require.Equal(t, "no-permission", en.Detail["reason"])
	}
	e.rep.Flush(ctx)
	all := e.entries(t, "authz.deny")
	require.Equal(t, 4, len(all), "200 denials: 3 in full and one summary")
	s := all[3]
	require.Equal(t, "summary", s.Source)
	require.Equal(t, "app:flood", s.Actor)
	require.Equal(t, "denied", s.Result)
	require.Equal(t, "197", s.Detail["count"])
	require.Equal(t, "3", s.Detail["inFull"])
	require.Equal(t, "accounts", s.Detail["resource"])
	require.Equal(t, "delete", s.Detail["action"])
	require.Equal(t, "192.0.2.0 192.0.2.1 192.0.2.2", s.Detail["sources"])
	require.Equal(t, 3.0, e.written(t, "authz.deny", "full"))
	require.Equal(t, 197.0, e.written(t, "authz.deny", "summary"))

	// A new minute starts a new budget; an empty minute writes nothing.
	e.rep.Flush(ctx)
	require.Equal(t, 4, len(e.entries(t, "authz.deny")))
	e.rep.Refuse(ctx, "app:flood", key("accounts", "delete"), denial("app:flood", "192.0.2.1", "accounts", "delete"))
	require.Equal(t, 5, len(e.entries(t, "authz.deny")))
}

// TestRepeatsKeysPerSubject: a caller that varies the resource and
// action it asks about (they come from its body) gets 8 kinds a minute;
// the rest are counted in one overflow summary of that caller.
func TestRepeatsKeysPerSubject(t *testing.T) {
	t.Parallel()
	e := newRepeatsEnv(t)
	ctx := context.Background()
	for i := range 1000 {
		res := fmt.Sprintf("r%d", i)
		e.rep.Refuse(ctx, "app:spray", key(res, "get"), denial("app:spray", "192.0.2.9", res, "get"))
	}
	require.Equal(t, 8, len(e.entries(t, "authz.deny")))
	e.rep.Flush(ctx)
	sums := summaries(e.entries(t, "authz.deny"))
	require.Equal(t, 1, len(sums), "keys beyond the bound share one overflow summary")
	require.Equal(t, "992", sums[0].Detail["count"])
	require.Contains(t, sums[0].Detail["overflow"], "keys")
	require.Equal(t, "app:spray", sums[0].Actor)
}

// TestRepeatsSubjectsAndFullBudget: distinct subjects (sign-ins from
// spread addresses) are bounded too: at most 256 entries in full a
// minute across all of them, at most 256 subjects, the rest counted per
// entry type.
func TestRepeatsSubjectsAndFullBudget(t *testing.T) {
	t.Parallel()
	e := newRepeatsEnv(t)
	ctx := context.Background()
	for i := range 2000 {
		src := fmt.Sprintf("2001:db8:%x::1", i)
		e.rep.Refuse(ctx, src, map[string]string{"username": "admin"}, store.AuditEntry{Type: "user.login", Actor: "client:console",
			Target: "unknown-user", Result: "failed", Source: src, Detail: map[string]string{"username": "admin"}})
	}
	require.Equal(t, 256, len(e.entries(t, "user.login")))
	e.rep.Flush(ctx)
	all := e.entries(t, "user.login")
	sums := summaries(all)
	require.Equal(t, 1, len(sums), "subjects beyond the bound share one summary")
	require.Equal(t, "1744", sums[0].Detail["count"])
	require.Equal(t, "accessd", sums[0].Actor)
	require.Contains(t, sums[0].Detail["overflow"], "subjects")
	require.Equal(t, "1736", sums[0].Detail["otherSources"], "the addresses listed are bounded")
	require.Equal(t, 8, len(strings.Fields(sums[0].Detail["sources"])))

	// Many subjects with several kinds each: the in-full budget holds.
	for i := range 100 {
		for j := range 5 {
			res := fmt.Sprintf("r%d", j)
			e.rep.Refuse(ctx, fmt.Sprintf("user:%d", i), key(res, "get"), denial(fmt.Sprintf("user:%d", i), "192.0.2.1", res, "get"))
		}
	}
	require.Equal(t, 256, len(e.entries(t, "authz.deny")))
	e.rep.Flush(ctx)
	total := 0
	for _, s := range summaries(e.entries(t, "authz.deny")) {
		n := 0
		_, err := fmt.Sscan(s.Detail["count"], &n)
		require.NoError(t, err)
		total += n
	}
	require.Equal(t, 500-256, total, "what was not written in full is in the summaries")
}

// TestRepeatsCloseFlushes: Close writes the minute's summary, so a clean
// stop loses no refusal.
func TestRepeatsCloseFlushes(t *testing.T) {
	t.Parallel()
	e := newRepeatsEnv(t)
	e.rep.Start()
	for range 10 {
		e.rep.Refuse(context.Background(), "user:u1", key("users", "delete"), denial("user:u1", "192.0.2.1", "users", "delete"))
	}
	require.Equal(t, 3, len(e.entries(t, "authz.deny")))
	done := make(chan struct{})
	go func() { e.rep.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		require.Fail(t, "Close did not return")
	}
	all := e.entries(t, "authz.deny")
	require.Equal(t, 4, len(all))
	require.Equal(t, "7", all[3].Detail["count"])
	e.rep.Close() // a second Close writes nothing more
	require.Equal(t, 4, len(e.entries(t, "authz.deny")))
}

// TestRepeatsBoundsValues: a refusal's detail and key values are cut, so
// a hostile caller's megabyte name costs the audit log and memory no more
// than a short one.
func TestRepeatsBoundsValues(t *testing.T) {
	t.Parallel()
	e := newRepeatsEnv(t)
	ctx := context.Background()
	long := strings.Repeat("é", 1<<19)
	for range 5 {
		e.rep.Refuse(ctx, "192.0.2.1", map[string]string{"username": long}, store.AuditEntry{Type: "user.login", Actor: "client:console",
			Target: "unknown-user", Result: "failed", Source: "192.0.2.1", Detail: map[string]string{"username": long}})
	}
	e.rep.Flush(ctx)
	all := e.entries(t, "user.login")
	require.Equal(t, 4, len(all))
	for _, en := range all {
		require.LessOrEqual(t, len(en.Detail["username"]), 128+len("…"))
		require.True(t, strings.HasPrefix(en.Detail["username"], "éé"))
		require.True(t, strings.HasSuffix(en.Detail["username"], "…"))
	}
}

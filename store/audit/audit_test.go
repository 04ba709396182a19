package audit_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

func openLog(t testing.TB, st *store.Store, opt audit.Options) *audit.Log {
	t.Helper()
	l, err := audit.Open(st, storetest.Queue(t, st), opt)
	require.NoError(t, err, "open audit log")
	t.Cleanup(func() { l.Close() })
	return l
}

// verifyOK fails unless the chain verifies with n entries.
func verifyOK(t testing.TB, st *store.Store, n uint64) {
	t.Helper()
	res, err := audit.Verify(st)
	require.NoError(t, err, "verify")
	require.True(t, res.OK, "verify = %+v", res)
	require.Equal(t, n, res.Entries, "verify = %+v", res)
	require.Zero(t, res.FirstBroken, "verify = %+v", res)
}

// TestGroupCommit: 2,000 concurrent Record calls all return once their
// entry is durable, and the chain holds each once, gapless, verifying.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	var emitted atomic.Int64
	log := openLog(t, st, audit.Options{Emit: func(store.AuditEntry) { emitted.Add(1) }})
	const n = 2000
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			err := log.Record(context.Background(), store.AuditEntry{Type: "auth.password", Target: strconv.Itoa(i), Result: "failed"})
			if !assert.NoError(t, err, "record %d", i) {
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent records in %v", n, time.Since(start))
	// Every Record has returned: its entry is already in the chain,
	// without a Sync.
	all, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	require.Len(t, all, n)
	seen := make([]bool, n)
	for i, e := range all {
		require.EqualValues(t, i+1, e.Seq)
		k, err := strconv.Atoi(e.Target)
		require.NoError(t, err, "entry %d: target %q", e.Seq, e.Target)
		require.False(t, seen[k], "entry %d: target %q duplicated", e.Seq, e.Target)
		seen[k] = true
	}
	seq, _ := log.Head()
	require.EqualValues(t, n, seq, "head")
	require.EqualValues(t, n, emitted.Load(), "emitted")
	verifyOK(t, st, n)
}

// TestStagedConcurrentTx: entries staged by 50 concurrent writers, three
// transactions each, are all chained once, and a writer's later change
// never precedes its earlier one in the chain.
func TestStagedConcurrentTx(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		now  func() time.Time
	}{
		{"real clock", nil},
		// An injected clock that stands still must not scramble the
		// order of one writer's entries.
		{"frozen clock", func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := storetest.OpenWith(t, t.TempDir(), storetest.RandomRootKey(t), store.Options{Now: tc.now})
			log := openLog(t, st, audit.Options{})
			const writers, each = 50, 3
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						err := st.Update(func(tx *store.Tx) error {
							u, err := tx.Users().Create(store.User{Username: fmt.Sprintf("w%02d-%d", w, i)})
							if err != nil {
								return err
							}
							return tx.Audit().Stage(store.AuditEntry{Type: "user.create", Target: u.ID,
								Detail: map[string]string{"w": strconv.Itoa(w), "i": strconv.Itoa(i)}})
						})
						if !assert.NoError(t, err, "writer %d", w) {
							return
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, log.Sync())
			all, err := audit.List(st, 1, 0)
			require.NoError(t, err)
			require.Len(t, all, writers*each)
			next := map[string]int{}
			targets := map[string]bool{}
			for _, e := range all {
				w, i := e.Detail["w"], e.Detail["i"]
				require.Equal(t, strconv.Itoa(next[w]), i, "entry %d is writer %s's change %s, but its change %d is not chained before it", e.Seq, w, i, next[w])
				next[w]++
				require.False(t, targets[e.Target], "user %s has two entries", e.Target)
				targets[e.Target] = true
			}
			n, err := st.Users().Count()
			require.NoError(t, err)
			require.Equal(t, writers*each, n, "users")
			verifyOK(t, st, writers*each)
		})
	}
}

// TestStagedBeforeCrashChainedOnOpen: entries staged with their change
// but not yet chained when the process stopped are chained, after the
// existing chain, by the next Open.
func TestStagedBeforeCrashChainedOnOpen(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), storetest.RandomRootKey(t)
	st := storetest.OpenDir(t, dir, key)
	log, err := audit.Open(st, storetest.Queue(t, st), audit.Options{})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, log.Record(context.Background(), store.AuditEntry{Type: "before", Target: strconv.Itoa(i)}))
	}
	require.NoError(t, log.Close())
	// No writer runs now: what is staged stays queued, as when the
	// daemon is killed between a commit and the next batch.
	for i := range 4 {
		err := st.Update(func(tx *store.Tx) error {
			return tx.Audit().Stage(store.AuditEntry{Type: "staged", Target: strconv.Itoa(i)})
		})
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())

	st = storetest.OpenDir(t, dir, key)
	p, err := st.AuditLog().Pending(0, 0)
	require.NoError(t, err)
	require.Len(t, p, 4, "pending after reopen")
	log = openLog(t, st, audit.Options{})
	seq, _ := log.Head()
	require.EqualValues(t, 7, seq, "head after open")
	p, err = st.AuditLog().Pending(0, 0)
	require.NoError(t, err)
	require.Empty(t, p, "pending after open")
	all, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	for i, e := range all {
		want := "before"
		if i >= 3 {
			want = "staged"
		}
		require.Equal(t, want, e.Type, "entry %d", e.Seq)
	}
	verifyOK(t, st, 7)
}

// TestSyncChainsStaged: after Sync, an entry staged before it is in the
// chain, so a list or verify right after a change sees it.
func TestSyncChainsStaged(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	log := openLog(t, st, audit.Options{})
	for i := range 20 {
		err := st.Update(func(tx *store.Tx) error { return tx.Audit().Stage(store.AuditEntry{Type: "x"}) })
		require.NoError(t, err)
		require.NoError(t, log.Sync())
		last, err := audit.Last(st)
		require.NoError(t, err)
		require.EqualValues(t, i+1, last.Seq, "after change %d and Sync", i+1)
	}
}

// TestRecordChainsStagedBefore: a Record returns only once every entry
// staged by a commit that ended before it was called is chained, before
// the recorded one. The writer reads the pending entries only when a
// commit staged some since its last read (or on its sweep, or a Sync);
// this checks that it never skips one that is there, alone and with
// writers staging and recording at once.
func TestRecordChainsStagedBefore(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	log := openLog(t, st, audit.Options{})
	ctx := context.Background()
	stage := func(typ string) error {
		return st.Update(func(tx *store.Tx) error { return tx.Audit().Stage(store.AuditEntry{Type: typ}) })
	}
	noPending := func(when string) {
		t.Helper()
		p, err := st.AuditLog().Pending(0, 0)
		require.NoError(t, err, when)
		require.Empty(t, p, "%s: entries still pending", when)
	}
	for i := range 20 {
		require.NoError(t, stage("staged"))
		require.NoError(t, log.Record(ctx, store.AuditEntry{Type: "recorded"}))
		noPending(fmt.Sprintf("after stage and record %d", i))
		last, err := audit.Last(st)
		require.NoError(t, err)
		require.EqualValues(t, 2*(i+1), last.Seq, "after stage and record %d", i)
		require.Equal(t, "recorded", last.Type, "after stage and record %d", i)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range 25 {
				if !assert.NoError(t, stage("staged"), "writer %d", w) {
					return
				}
				if !assert.NoError(t, log.Record(ctx, store.AuditEntry{Type: "recorded"}), "writer %d", w) {
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, log.Record(ctx, store.AuditEntry{Type: "recorded"}))
	noPending("after the parallel writers and one more record")
	verifyOK(t, st, 40+8*25*2+1)
}

// TestClosedLog: Record and Sync after Close fail at once instead of
// hanging, and Close is idempotent.
func TestClosedLog(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	log, err := audit.Open(st, storetest.Queue(t, st), audit.Options{})
	require.NoError(t, err)
	require.NoError(t, log.Record(context.Background(), store.AuditEntry{Type: "x"}))
	require.NoError(t, log.Close())
	require.NoError(t, log.Close(), "second close")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if !assert.Error(t, log.Record(context.Background(), store.AuditEntry{Type: "late"}), "record %d after close", i) {
				return
			}
			if !assert.Error(t, log.Sync(), "sync %d after close", i) {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Record after Close hangs")
	}
	verifyOK(t, st, 1)
}

// TestVerifyWhileWriting: verifying a live log, as `accessctl audit
// verify` does while the daemon serves, never reports a sound chain as
// broken.
func TestVerifyWhileWriting(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	log := openLog(t, st, audit.Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !assert.NoError(t, log.Record(context.Background(), store.AuditEntry{Type: "x"})) {
					return
				}
			}
		})
	}
	for i := range 30 {
		res, err := audit.Verify(st)
		if err != nil || !res.OK {
			close(stop)
			wg.Wait()
			require.NoError(t, err, "verify %d of a live log", i)
			require.True(t, res.OK, "verify %d of a live log: %+v", i, res)
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkAuditRecordParallel measures Record under concurrency: group
// commit shares one fsync among every caller waiting.
func BenchmarkAuditRecordParallel(b *testing.B) {
	st := storetest.Open(b)
	log := openLog(b, st, audit.Options{})
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := log.Record(context.Background(), store.AuditEntry{Type: "auth.password", Actor: "user:bench", Result: "ok"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAuditRecordSerial measures Record from one caller: one fsync
// per entry.
func BenchmarkAuditRecordSerial(b *testing.B) {
	st := storetest.Open(b)
	log := openLog(b, st, audit.Options{})
	for b.Loop() {
		require.NoError(b, log.Record(context.Background(), store.AuditEntry{Type: "auth.password", Actor: "user:bench", Result: "ok"}))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// TestHugeEntriesStillFit: entries carrying what a hostile request can
// put in them (a 16 KiB path) are bounded, so a batch of them still fits
// one transaction and none is lost (a review lost 274 of 300).
func TestHugeEntriesStillFit(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	log := openLog(t, st, audit.Options{})
	big := strings.Repeat("p", 16<<10)
	const n = 300
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			e := store.AuditEntry{Type: "authz.denied", Target: big, Result: "denied", Detail: map[string]string{"path": big, "i": strconv.Itoa(i)}}
			if err := log.Record(context.Background(), e); err != nil {
				failed.Add(1)
			}
		})
	}
	// And staged ones, through transactions.
	for i := range 100 {
		wg.Go(func() {
			err := st.Update(func(tx *store.Tx) error {
				return tx.Audit().Stage(store.AuditEntry{Type: "user.update", Target: big, Detail: map[string]string{"groups": big, "n": strconv.Itoa(i)}})
			})
			if err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "entries lost")
	require.NoError(t, log.Sync())
	verifyOK(t, st, n+100)
	e, err := audit.Get(st, 1)
	require.NoError(t, err)
	require.LessOrEqual(t, len(e.Target), 300, "entry not bounded")
	require.False(t, len(e.Detail["path"]) > 300 && len(e.Detail["groups"]) > 300, "entry's detail not bounded")
}

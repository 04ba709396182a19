package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// concurrentUpdates: every read-modify-write of every writer lands
// exactly once, and each bumps the Version once.
func checkConcurrentUpdates(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	users := st.Users()
	u, err := users.Create(store.User{Username: "counter", FirstName: "0"})
	must(t, "create", err)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := users.Update(u.ID, func(u store.User) (store.User, error) {
					n, err := strconv.Atoi(u.FirstName)
					u.FirstName = strconv.Itoa(n + 1)
					return u, err
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err, "concurrent update")
	}
	got, err := users.Get(u.ID)
	must(t, "get", err)
	require.Equal(t, strconv.Itoa(writers*each), got.FirstName, "after %d increments: counter=%s version=%d", writers*each, got.FirstName, got.Version)
	require.Equal(t, uint64(1+writers*each), got.Version, "after %d increments: counter=%s version=%d", writers*each, got.FirstName, got.Version)
}

// concurrentUniqueCreate: of many racing creates of one username exactly
// one wins and the rest see ErrExists.
func checkConcurrentUniqueCreate(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	users := st.Users()
	const racers = 8
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for range racers {
		wg.Go(func() {
			_, err := users.Create(store.User{Username: "highlander"})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		if err == nil {
			wins++
		} else {
			assert.ErrorIs(t, err, store.ErrExists, "racing create: %v", err)
		}
	}
	require.Equal(t, 1, wins, "%d creates of one username succeeded, want 1", wins)
	n, err := users.Count()
	must(t, "count", err)
	require.Equal(t, 1, n, "count")
}

// concurrentAudit: entries recorded directly and entries staged by
// concurrent transactions end up in one gapless chain that verifies, each
// exactly once.
func checkConcurrentAudit(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	log, err := audit.Open(st, Queue(t, st), audit.Options{})
	must(t, "open audit log", err)
	defer log.Close()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				target := fmt.Sprintf("w%d-%d", w, i)
				var err error
				if i%2 == 0 {
					err = log.Record(context.Background(), store.AuditEntry{Type: "test.record", Target: target})
				} else {
					err = st.Update(func(tx *store.Tx) error {
						return tx.Audit().Stage(store.AuditEntry{Type: "test.staged", Target: target})
					})
				}
				assert.NoError(t, err, "audit %s", target)
			}
		})
	}
	wg.Wait()
	must(t, "sync", log.Sync())
	all, err := audit.List(st, 1, 0)
	must(t, "list", err)
	require.Len(t, all, writers*each, "log has %d entries, want %d", len(all), writers*each)
	targets := map[string]bool{}
	for i, e := range all {
		require.Equal(t, uint64(i+1), e.Seq, "entry %d has seq %d: gap or fork", i, e.Seq)
		require.False(t, targets[e.Target], "entry for %s chained twice", e.Target)
		targets[e.Target] = true
	}
	res, err := audit.Verify(st)
	must(t, "verify", err)
	require.True(t, res.OK, "verify = %+v", res)
	require.Equal(t, uint64(writers*each), res.Entries, "verify = %+v", res)
}

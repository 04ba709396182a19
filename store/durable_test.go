package store

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupSyncCoversEveryCommit: a committer is answered only after a
// sync that started after its commit finished; and concurrent committers
// share syncs.
func TestGroupSyncCoversEveryCommit(t *testing.T) {
	g := newGroupSync()
	var seq atomic.Uint64     // commits finished so far
	var covered atomic.Uint64 // commits that a finished sync had seen at its start
	var syncs atomic.Int32
	doSync := func() error {
		seen := seq.Load()
		syncs.Add(1)
		time.Sleep(2 * time.Millisecond) // an fsync
		for {
			c := covered.Load()
			if seen <= c || covered.CompareAndSwap(c, seen) {
				return nil
			}
		}
	}
	const n = 200
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			mine := seq.Add(1) // the commit is written
			if err := g.wait(doSync); err != nil {
				t.Error(err)
			}
			if covered.Load() < mine {
				t.Errorf("commit %d answered before a sync covered it (covered %d)", mine, covered.Load())
			}
		})
	}
	wg.Wait()
	if s := syncs.Load(); s >= n/2 {
		t.Errorf("%d syncs for %d concurrent commits: not shared", s, n)
	}
	t.Logf("%d commits, %d syncs", n, syncs.Load())
}

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

// TestGroupSyncWindow: commits arriving one at a time, each waited for,
// share syncs: a sync starts no sooner than the window after the last
// one ended, so a second of them costs at most elapsed/window+1 syncs,
// and each is still answered only after a sync that covers it.
func TestGroupSyncWindow(t *testing.T) {
	g := newGroupSync()
	var seq, covered atomic.Uint64
	var syncs atomic.Int32
	doSync := func() error {
		seen := seq.Load()
		syncs.Add(1)
		time.Sleep(200 * time.Microsecond)
		for c := covered.Load(); seen > c && !covered.CompareAndSwap(c, seen); c = covered.Load() {
		}
		return nil
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 { // four committers, each committing and waiting in turn
		wg.Go(func() {
			for range 50 {
				mine := seq.Add(1)
				if err := g.wait(doSync); err != nil {
					t.Error(err)
					return
				}
				if covered.Load() < mine {
					t.Errorf("commit %d answered before a sync covered it", mine)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if most := int32(elapsed/syncWindow) + 1; syncs.Load() > most {
		t.Fatalf("%d syncs in %v: more than one per %v window (%d)", syncs.Load(), elapsed, syncWindow, most)
	}
	t.Logf("200 commits in %v, %d syncs", elapsed, syncs.Load())
}

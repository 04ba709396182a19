package engine

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSync is a sync of groupSync's tests: it records how many commits
// it saw at its start and, once done, marks them covered.
type fakeSync struct {
	seq     atomic.Uint64 // commits finished so far
	covered atomic.Uint64 // commits that a finished sync had seen at its start
	syncs   atomic.Int32
	cost    time.Duration
}

func (f *fakeSync) sync() error {
	seen := f.seq.Load()
	f.syncs.Add(1)
	time.Sleep(f.cost) // an fsync
	for c := f.covered.Load(); seen > c && !f.covered.CompareAndSwap(c, seen); c = f.covered.Load() {
	}
	return nil
}

// commit is one committer: begin, write, wait; it fails t when it is
// answered before a sync covered its commit.
func (f *fakeSync) commit(t *testing.T, g *groupSync, write time.Duration) {
	g.begin()
	time.Sleep(write)
	mine := f.seq.Add(1) // the commit is written
	if !assert.NoError(t, g.wait(f.sync)) {
		return
	}
	assert.GreaterOrEqual(t, f.covered.Load(), mine, "commit %d answered before a sync covered it", mine)
}

// TestGroupSyncCoversEveryCommit: a committer is answered only after a
// sync that started after its commit finished; and concurrent committers
// share syncs.
func TestGroupSyncCoversEveryCommit(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	f := &fakeSync{cost: 2 * time.Millisecond}
	const n = 200
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { f.commit(t, g, 0) })
	}
	wg.Wait()
	assert.Less(t, f.syncs.Load(), int32(n/2), "syncs for %d concurrent commits: not shared", n)
	t.Logf("%d commits, %d syncs", n, f.syncs.Load())
}

// TestGroupSyncLoneCommitter: a committer with no sibling syncs at once:
// each of a sequence of commits runs its own sync and none waits for the
// window.
func TestGroupSyncLoneCommitter(t *testing.T) {
	g := newGroupSync()
	f := &fakeSync{}
	const n = 50
	start := time.Now()
	for range n {
		f.commit(t, g, 0)
	}
	elapsed := time.Since(start)
	assert.Equal(t, int32(n), f.syncs.Load(), "a lone commit is synced by itself")
	// Waiting out the window once per commit would take n × 10 ms.
	assert.Less(t, elapsed, n*syncWindow/2, "%d lone commits took %v", n, elapsed)
}

// TestGroupSyncGathersSiblings: a sync that starts while a sibling is
// committing waits for it, and one sync answers both.
func TestGroupSyncGathersSiblings(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	g.window = time.Minute // the sibling, not the bound, ends the gathering
	f := &fakeSync{}
	g.begin() // the sibling starts its transaction first
	var wg sync.WaitGroup
	wg.Go(func() { f.commit(t, g, 0) })
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.running
	}, 10*time.Second, time.Millisecond, "the first committer gathers")
	mine := f.seq.Add(1)
	require.NoError(t, g.wait(f.sync))
	wg.Wait()
	assert.GreaterOrEqual(t, f.covered.Load(), mine)
	assert.Equal(t, int32(1), f.syncs.Load(), "both commits share one sync")
}

// TestGroupSyncWindowBoundsGathering: a sibling that does not commit
// (a long transaction, or one that ends in an error) holds a sync back
// at most the window.
func TestGroupSyncWindowBoundsGathering(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	f := &fakeSync{}
	g.begin() // a sibling that stays open
	start := time.Now()
	f.commit(t, g, 0)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, syncWindow, "the sync gathers while a sibling writes")
	assert.Less(t, elapsed, 50*syncWindow, "the window bounds the gathering")
	g.abandon()
	g.mu.Lock()
	defer g.mu.Unlock()
	assert.Zero(t, g.writing, "begin and abandon balance")
}

// TestGroupSyncAbandonEndsGathering: a sibling that ends without a
// commit releases a gathering sync at once.
func TestGroupSyncAbandonEndsGathering(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	g.window = time.Minute
	f := &fakeSync{}
	g.begin()
	var wg sync.WaitGroup
	wg.Go(func() { f.commit(t, g, 0) })
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.running
	}, 10*time.Second, time.Millisecond)
	g.abandon()
	wg.Wait()
	assert.Equal(t, int32(1), f.syncs.Load())
}

// TestWriteEndsWhateverItsOutcome: a write transaction stops counting as
// a sibling of other commits when it commits, fails, or panics, so that
// no later sync waits for it.
func TestWriteEndsWhateverItsOutcome(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	writing := func() int {
		e.sync.mu.Lock()
		defer e.sync.mu.Unlock()
		return e.sync.writing
	}

	require.NoError(t, e.Retry(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }))
	assert.Zero(t, writing(), "after a commit")

	require.NoError(t, e.RetryDeferred(func(txn *badger.Txn) error { return txn.Set([]byte("k2"), []byte("v")) }))
	assert.Zero(t, writing(), "after a deferred commit")
	require.NoError(t, e.DB().View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k2")); return err }), "a deferred commit is visible at once")

	errFn := errors.New("fn failed")
	require.ErrorIs(t, e.Retry(func(*badger.Txn) error { return errFn }), errFn)
	assert.Zero(t, writing(), "after an error")

	require.PanicsWithValue(t, "fn panicked", func() {
		_ = e.Retry(func(*badger.Txn) error { panic("fn panicked") })
	})
	assert.Zero(t, writing(), "after a panic")
}

// openTest opens an engine in dir under a fixed key, closed at the end
// of the test.
func openTest(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(dir, bytes.Repeat([]byte{7}, 32), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(nil) })
	return e
}

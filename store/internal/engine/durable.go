package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// groupSync makes commits durable in groups: every committer takes a
// ticket after its commit is written, and waits until a sync that
// started after its ticket was issued has finished. One committer runs
// the sync for everyone waiting; the others ride along. So N concurrent
// commits cost about one fsync, not N.
//
// A committer that is alone costs nothing extra: it syncs at once. The
// syncer gathers only when siblings are committing (they started a write
// transaction and have not taken their ticket yet, PostgreSQL's
// commit_delay with commit_siblings = 1): then it waits until they have
// all taken their tickets, or at most window, so that one sync carries
// them all. Under a steady stream of concurrent commits each sync takes
// all that arrived meanwhile; a lone sequential writer pays one commit
// and one sync per record, the floor of a durable store. The earlier
// rule, a fixed 10 ms between syncs, made every lone commit wait out the
// window (a sequential permission grant took 11-14 ms instead of two
// fsyncs).
//
// Every committer is still answered only when its commit is durable: the
// gathering decides when a sync starts, never whether the caller's
// ticket is covered by one.
//
// Badger's own SyncWrites cannot share: it syncs the memtable log once
// per transaction even when it writes a batch of them (badger v4.9.6,
// writeToLSM), which is why the store turns it off and syncs here.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	writing int    // siblings: committers in a write transaction without a ticket yet
	issued  uint64 // tickets handed out
	done    uint64 // every ticket up to here is durable
	running bool
	window  time.Duration
}

// syncWindow bounds how long a sync waits for siblings to finish their
// commits.
const syncWindow = 10 * time.Millisecond

func newGroupSync() *groupSync {
	g := &groupSync{window: syncWindow}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// begin says a write transaction started: until it ends (wait after a
// commit, abandon otherwise) a sync gathers for it.
func (g *groupSync) begin() {
	g.mu.Lock()
	g.writing++
	g.mu.Unlock()
}

// abandon ends a write transaction that committed nothing (an error, a
// conflict, a discarded read-write transaction).
func (g *groupSync) abandon() {
	g.mu.Lock()
	g.writing--
	g.cond.Broadcast() // a gathering sync may be waiting for it
	g.mu.Unlock()
}

// wait ends a write transaction that committed: it returns when every
// commit finished before it was called is durable, running the sync
// itself if no sync is under way.
func (g *groupSync) wait(sync func() error) error {
	g.mu.Lock()
	g.writing--
	g.issued++
	ticket := g.issued
	g.cond.Broadcast() // a gathering sync may be waiting for this ticket
	for g.done < ticket {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.gather()
		target := g.issued // everything committed before this sync starts
		g.mu.Unlock()
		err := sync()
		g.mu.Lock()
		g.running = false
		if err == nil && target > g.done {
			g.done = target
		}
		g.cond.Broadcast()
		if err != nil {
			g.mu.Unlock()
			return err
		}
	}
	g.mu.Unlock()
	return nil
}

// gather waits, with g.mu held, while siblings are committing, at most
// window: a lone committer does not wait at all.
func (g *groupSync) gather() {
	if g.writing == 0 {
		return
	}
	deadline := time.Now().Add(g.window)
	timer := time.AfterFunc(g.window, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer timer.Stop()
	for g.writing > 0 && time.Now().Before(deadline) {
		g.cond.Wait()
	}
}

// durable returns when every commit the caller has finished is on
// stable storage (see groupSync). It ends the write transaction the
// caller began with beginWrite.
func (e *Engine) durable() error {
	if err := e.sync.wait(e.syncFiles); err != nil {
		return fmt.Errorf("sync to disk: %w", err)
	}
	return nil
}

// beginWrite counts a write transaction as a sibling of every commit
// (groupSync.begin); it is ended by durable after a commit or by
// endWrite.
func (e *Engine) beginWrite() { e.sync.begin() }

// endWrite ends a write transaction that committed nothing.
func (e *Engine) endWrite() { e.sync.abandon() }

// syncFiles is one group sync: Badger's Sync (the active memtable log and
// the value log), then an fdatasync of every memtable log in the
// directory. The second part covers a commit that landed in a memtable
// that Badger rotated out before this sync ran: Badger does not sync a
// memtable log when it retires it, only the table it is later flushed to.
// A log that disappeared meanwhile was flushed to a table Badger synced.
//
// fdatasync, not fsync: Badger's Sync is an msync, which Linux runs as a
// data sync too. A memtable log has its full size from its creation (a
// size change is what fdatasync does write), and writes through its
// memory map only move its modification time, which an fsync would
// commit to the file system's journal on every sync, a second disk flush
// per commit that recovery never reads.
func (e *Engine) syncFiles() error {
	if err := e.db.Sync(); err != nil {
		return err
	}
	logs, err := filepath.Glob(filepath.Join(e.dir, "*.mem"))
	if err != nil {
		return err
	}
	for _, p := range logs {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		err = unix.Fdatasync(int(f.Fd()))
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// SyncDir makes the entries created, renamed or removed in dir durable:
// an fsync of the directory itself, which a rename or a new file needs
// before it survives a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

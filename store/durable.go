package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// groupSync makes commits durable in groups: every committer takes a
// ticket after its commit is written, and waits until a sync that
// started after its ticket was issued has finished. One committer runs
// the sync for everyone waiting; the others ride along. So N concurrent
// commits cost about one fsync, not N.
//
// A sync starts no sooner than window after the previous one ended, so
// that under a steady stream of commits each sync takes all that arrived
// meanwhile. Without it, password grants (four durable commits each,
// arriving one at a time) ran 155 syncs a second; each sync of Badger's
// memory-mapped log write-protects its pages and the next writes fault
// and flush the TLB of every CPU running the daemon, including those
// hashing passwords: 14,000 TLB flushes a second, and the grant rate
// about 20% below what it was with no syncs at all. With a 10 ms window,
// 62 syncs a second (perf stat, ./scripts/bench's password rows). A
// commit waits at most window longer, and only when a sync ran within it.
//
// Badger's own SyncWrites cannot share: it syncs the memtable log once
// per transaction even when it writes a batch of them (badger v4.9.6,
// writeToLSM), which is why the store turns it off and syncs here.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	issued  uint64 // tickets handed out
	done    uint64 // every ticket up to here is durable
	running bool
	window  time.Duration
	lastEnd time.Time // when the last sync ended
}

// syncWindow is groupSync's window.
const syncWindow = 10 * time.Millisecond

func newGroupSync() *groupSync {
	g := &groupSync{window: syncWindow}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// wait returns when every commit finished before it was called is
// durable, running sync itself if no sync is under way.
func (g *groupSync) wait(sync func() error) error {
	g.mu.Lock()
	g.issued++
	ticket := g.issued
	for g.done < ticket {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		if wait := g.window - time.Since(g.lastEnd); wait > 0 {
			g.mu.Unlock()
			time.Sleep(wait) // the others wait on cond meanwhile
			g.mu.Lock()
		}
		target := g.issued // everything committed before this sync starts
		g.mu.Unlock()
		err := sync()
		g.mu.Lock()
		g.lastEnd = time.Now()
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

// durable returns when every commit the caller has finished is on
// stable storage (see groupSync).
func (s *Store) durable() error {
	if s.sync == nil { // a Store built by hand in a test, not by Open
		return s.syncFiles()
	}
	if err := s.sync.wait(s.syncFiles); err != nil {
		return fmt.Errorf("sync to disk: %w", err)
	}
	return nil
}

// syncFiles is one group sync: Badger's Sync (the active memtable log and
// the value log), then an fsync of every memtable log in the directory.
// The second part covers a commit that landed in a memtable that Badger
// rotated out before this sync ran: Badger does not sync a memtable log
// when it retires it, only the table it is later flushed to. A log that
// disappeared meanwhile was flushed to a table Badger synced.
func (s *Store) syncFiles() error {
	if err := s.db.Sync(); err != nil {
		return err
	}
	logs, err := filepath.Glob(filepath.Join(s.dir, "*.mem"))
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
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// groupSync makes commits durable in groups: every committer takes a
// ticket after its commit is written, and waits until a sync that
// started after its ticket was issued has finished. One committer runs
// the sync for everyone waiting; the others ride along. So N concurrent
// commits cost about one fsync, not N.
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
}

func newGroupSync() *groupSync {
	g := &groupSync{}
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

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/directory"
)

// StoreConfig is the [store] table.
type StoreConfig struct {
	// MinFree is the free space the data dir's file system must keep.
	// Below it every store write is refused (503, "disk nearly full")
	// while reads, sign-ins of applications and token checks go on, and
	// writes resume by themselves when space returns. Below a quarter of
	// it (the hard floor) the daemon closes the store cleanly and exits
	// with code 7. Badger writes through memory maps: a page that finds
	// the disk full kills the process with SIGBUS mid-write, so the
	// store must stop writing well before the disk is full, and the
	// floor leaves room for the final flush of Close. "0B" turns both off.
	MinFree directory.Size `toml:"min_free"`
}

// defaultMinFree is [store] min_free when unset: a few memtable flushes
// and compactions of a large store, and far above what a store of 100k
// users writes between two checks.
const defaultMinFree = directory.Size(512 << 20)

// diskEvery is how often the watcher reads the free space.
const diskEvery = time.Second

// ErrDiskFloor is returned by Serve when the free space of the data dir's
// file system is below the hard floor (a quarter of [store] min_free): at
// start before the store is opened, or while serving, after the store
// was closed cleanly. It maps to exit code 7.
var ErrDiskFloor = errors.New("daemon: disk below the hard free-space floor")

// diskFullError is the refusal of a store write while free space is below
// min_free. It is a 503 at the HTTP edge (api.ErrUnavailable): the client
// may retry later, and the operator has a fix.
type diskFullError struct {
	dir           string
	free, minFree uint64
}

func (e *diskFullError) Error() string {
	return fmt.Sprintf("disk nearly full: %s free on the file system of %s, [store] min_free is %s; store writes are refused until you free space on that file system or lower min_free; reads and token checks go on",
		mib(e.free), e.dir, mib(e.minFree))
}

func (e *diskFullError) Unwrap() error { return api.ErrUnavailable }

// diskGuard keeps the store off a full disk: a watcher reads the free
// space of the data dir's file system every diskEvery, and every store
// write asks allowWrite, which only loads the watcher's last verdict.
type diskGuard struct {
	dir            string
	minFree, floor uint64
	log            *slog.Logger
	free           func(dir string) (uint64, error) // statfs; tests replace it

	refusal  atomic.Pointer[diskFullError] // non-nil while below minFree
	floorHit chan uint64                   // receives the free bytes once, below floor
}

func newDiskGuard(dir string, minFree directory.Size, log *slog.Logger) *diskGuard {
	return &diskGuard{dir: dir, minFree: uint64(minFree), floor: uint64(minFree) / 4, log: log,
		free: statfsFree, floorHit: make(chan uint64, 1)}
}

// statfsFree is the space an unprivileged process may still use on the
// file system of dir (the service does not run as root, so the blocks
// reserved for root do not count).
func statfsFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// allowWrite is store.Options.AllowWrite: nil, or the refusal.
func (g *diskGuard) allowWrite() error {
	if e := g.refusal.Load(); e != nil {
		return e
	}
	return nil
}

// allowBulkWrite is store.Options.AllowBulkWrite: it reads the free space
// afresh before the verdict, so that a writer that writes megabytes
// between two ticks of the watcher (a field-key rotation) stops as soon
// as the space is below min_free, not up to diskEvery later.
func (g *diskGuard) allowBulkWrite() error {
	g.check()
	return g.allowWrite()
}

// check reads the free space once, refuses or allows writes from now on,
// and reports whether it is below the floor. A failed statfs changes
// nothing: the last verdict stands.
func (g *diskGuard) check() (free uint64, belowFloor bool) {
	if g.minFree == 0 {
		return 0, false
	}
	free, err := g.free(g.dir)
	if err != nil {
		g.log.Warn("cannot read the free space of the data dir", "event", "store.statfs_error", "err", err)
		return 0, false
	}
	was := g.refusal.Load()
	switch {
	case free < g.minFree:
		g.refusal.Store(&diskFullError{dir: g.dir, free: free, minFree: g.minFree})
		if was == nil {
			g.log.Error("disk nearly full: store writes refused until space is freed; reads and token checks go on",
				"event", "store.disk_full", "free", free, "min_free", g.minFree, "floor", g.floor, "dir", g.dir,
				"fix", "free space on the data dir's file system, or lower [store] min_free")
		}
	case was != nil:
		g.refusal.Store(nil)
		g.log.Info("free space is back above min_free: store writes resumed", "event", "store.disk_ok",
			"free", free, "min_free", g.minFree)
	}
	return free, free < g.floor
}

// watch checks every diskEvery until ctx ends; below the floor it sends
// the free space on floorHit once and stops.
func (g *diskGuard) watch(ctx context.Context) {
	t := time.NewTicker(diskEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if free, below := g.check(); below {
			g.floorHit <- free
			return
		}
	}
}

// floorError is what Serve returns below the floor.
func (g *diskGuard) floorError(free uint64) error {
	return fmt.Errorf("%w: %s free on the file system of %s, the floor is %s (a quarter of [store] min_free %s); the store was closed cleanly; free space there and start again",
		ErrDiskFloor, mib(free), g.dir, mib(g.floor), mib(g.minFree))
}

// checkDisk is the phase before the store opens: below the floor the
// start is refused (opening Badger writes), below min_free it starts
// with writes refused.
func (s *server) checkDisk() error {
	s.disk = newDiskGuard(s.cfg.DataDir, s.cfg.Store.MinFree, s.log)
	if free, below := s.disk.check(); below {
		return fmt.Errorf("%w: %s free on the file system of %s, the floor is %s (a quarter of [store] min_free %s); free space there and start again",
			ErrDiskFloor, mib(free), s.cfg.DataDir, mib(s.disk.floor), mib(s.disk.minFree))
	}
	return nil
}

// mib formats a byte count for an operator, rounded down: "12.3MiB"
// (so one byte short of min_free never reads as min_free).
func mib(n uint64) string { return fmt.Sprintf("%d.%dMiB", n>>20, (n&(1<<20-1))*10>>20) }

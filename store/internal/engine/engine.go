package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Errors the engine reports; package store exports them under the same
// names, so callers test them with errors.Is against store's.
var (
	// ErrClosed says the store was used after Close, which would otherwise
	// panic inside Badger.
	ErrClosed = errors.New("store: closed")

	// ErrConflict says an update lost a race: the version the caller based
	// its change on is stale, or the retries on concurrent writers ran
	// out. Re-read and try again.
	ErrConflict = errors.New("store: conflict")

	// ErrKeyMismatch says the root key handed to Open is not the one the
	// data directory was created with, so nothing can be decrypted.
	ErrKeyMismatch = errors.New("store: root key does not match this store")
)

// Engine is what the store runs on, beneath the barrier and the
// repositories: the Badger database, the close lock, the write gates and
// the group sync that makes every commit durable before it is answered.
// It is safe for concurrent use.
type Engine struct {
	mu   sync.RWMutex // write-held only by Close
	db   *badger.DB   // nil once closed
	dir  string
	sync *groupSync // shares fsyncs between concurrent commits

	allowWrite func() error // the store's Options.AllowWrite; nil until Gate
	allowBulk  func() error // the store's Options.AllowBulkWrite; nil until Gate
}

// Open opens (creating if needed) the Badger database in dir, encrypted
// under masterKey, after removing the log files a crash left without a
// header (removeUnbornVlogs). Badger holds masterKey until Close; the
// caller clears it after. A key that does not match the directory yields
// ErrKeyMismatch. Every write is allowed until Gate.
func Open(dir string, masterKey []byte, log *slog.Logger) (*Engine, error) {
	if err := removeUnbornVlogs(dir, log); err != nil {
		return nil, err
	}
	db, err := badger.Open(BadgerOptions(dir, masterKey, log))
	if err != nil {
		if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
			return nil, fmt.Errorf("store: open %s: %w", dir, ErrKeyMismatch)
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &Engine{db: db, dir: dir, sync: newGroupSync()}, nil
}

// Gate installs the write gates: allowWrite is asked before every write
// transaction, allowBulk as well before each of a bulk writer's
// (BulkRetry); an error refuses the write before Badger is touched. Nil
// allows. The store calls it once, after its own metadata writes at
// Open and before it is shared.
func (e *Engine) Gate(allowWrite, allowBulk func() error) {
	e.allowWrite = allowWrite
	e.allowBulk = allowBulk
}

// Close flushes and closes the database, then calls wipe (if not nil)
// while still holding the close lock, so that nothing that acquired the
// engine runs alongside it. Close is idempotent: once closed it returns
// nil and wipe is not called again; Acquire reports ErrClosed.
func (e *Engine) Close(wipe func()) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	if wipe != nil {
		wipe()
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Acquire takes the read side of the close lock and reports ErrClosed
// after Close. The caller must call Release when err is nil.
func (e *Engine) Acquire() error {
	e.mu.RLock()
	if e.db == nil {
		e.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Release gives back what Acquire took.
func (e *Engine) Release() { e.mu.RUnlock() }

// DB is the Badger database, for reads (DB().View) and streams. The
// caller holds the engine (Acquire) or knows it open; writes go through
// Retry, which makes them durable.
func (e *Engine) DB() *badger.DB { return e.db }

// Size reports the bytes on disk of the LSM tree (tables and memtable
// logs) and of the value log, for status and metrics. It counts allocated
// blocks, so preallocated sparse files count for what they use.
func (e *Engine) Size() (lsm, vlog int64) {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return 0, 0
	}
	for _, d := range entries {
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = min(n, st.Blocks*512)
		}
		switch filepath.Ext(d.Name()) {
		case ".sst", ".mem":
			lsm += n
		case ".vlog":
			vlog += n
		}
	}
	return lsm, vlog
}

// maxAttempts bounds the retries of a read-modify-write transaction that
// lost to a concurrent writer before ErrConflict is returned.
const maxAttempts = 64

// Retry runs fn in a read-write transaction and commits it, re-running fn
// on a fresh transaction when Badger reports a conflict with a concurrent
// commit, and returns once the commit is durable (group sync). fn may
// therefore run several times and must have no effect outside txn.
// Errors from fn end the loop and are returned as is. The caller holds
// the engine (Acquire).
func (e *Engine) Retry(fn func(txn *badger.Txn) error) error { return e.retry(fn, true) }

// RetryDeferred is Retry without the wait for the disk: it returns once
// the commit is written, and the commit becomes durable with the next
// sync of any commit after it (Badger's logs are written in commit order,
// and every Retry syncs them all), or at Close. It is only for a write
// that can be redone from what is already durable, so that a power cut
// that loses it loses nothing: the audit chain writer's, which turns
// staged entries (durable with the change that staged them, and staged
// until the chain commit lands) into chained ones.
func (e *Engine) RetryDeferred(fn func(txn *badger.Txn) error) error { return e.retry(fn, false) }

func (e *Engine) retry(fn func(txn *badger.Txn) error, durable bool) error {
	for attempt := range maxAttempts {
		txn, err := e.writeTxn()
		if err != nil {
			return err
		}
		err = e.attempt(txn, fn)
		if err == nil && durable {
			return e.durable()
		}
		if err == nil {
			e.endWrite() // no sync to wait for: stop counting as a sibling
			return nil
		}
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		if attempt > 2 {
			time.Sleep(time.Duration(attempt) * 100 * time.Microsecond)
		}
	}
	return fmt.Errorf("%d attempts lost to concurrent writers: %w", maxAttempts, ErrConflict)
}

// attempt runs fn in txn and commits it, counted as a sibling of other
// commits (groupSync) until durable answers it; one that commits nothing
// (an error, a conflict, a panic in fn) stops counting here.
func (e *Engine) attempt(txn *badger.Txn, fn func(txn *badger.Txn) error) error {
	e.beginWrite()
	committed := false
	defer func() {
		if !committed {
			e.endWrite()
		}
	}()
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	committed = true
	return nil
}

// writeTxn starts a read-write transaction, unless the write gate
// refuses it: the one gate every write of the store passes.
func (e *Engine) writeTxn() (*badger.Txn, error) {
	if e.allowWrite != nil {
		if err := e.allowWrite(); err != nil {
			return nil, fmt.Errorf("write refused: %w", err)
		}
	}
	return e.db.NewTransaction(true), nil
}

// BulkRetry is Retry for a bulk writer: the bulk gate is asked first,
// then the gate of every write.
func (e *Engine) BulkRetry(fn func(txn *badger.Txn) error) error {
	if e.allowBulk != nil {
		if err := e.allowBulk(); err != nil {
			return fmt.Errorf("write refused: %w", err)
		}
	}
	return e.Retry(fn)
}

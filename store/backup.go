package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/accessd/accessd/store/internal/barrier"
	"github.com/accessd/accessd/store/internal/engine"
)

// The backup stream's format and crypto are the barrier's
// (barrier.NewBackupWriter); the store streams its records through it
// with Badger's backup format (DB.Backup), loaded back with DB.Load.

// Backup writes a consistent snapshot of the whole store to w, encrypted
// under a key derived from the root key (format above). It runs online:
// writers go on while it streams, and the snapshot is the state at its
// start. The stream holds field ciphertexts as stored, so a restore with
// the same root key opens them.
func (b Barrier) Backup(w io.Writer) error { return b.BackupBound(w, nil) }

// BackupBound is Backup with a binding: every chunk authenticates bind as
// well, so only RestoreBound with the same bind opens the stream. A caller
// that wraps the stream in a header of its own passes the header's MAC,
// and a header then cannot be moved onto another backup's stream.
func (b Barrier) BackupBound(w io.Writer, bind []byte) error {
	s := b.s
	if err := s.eng.Acquire(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer s.eng.Release()
	return b.backupLocked(w, bind)
}

// backupLocked is BackupBound for callers that hold the store open (Open
// itself, before a migration).
func (b Barrier) backupLocked(w io.Writer, bind []byte) error {
	s := b.s
	bw, err := barrier.NewBackupWriter(w, s.keys.b.BackupKey(), bind, s.rand)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if _, err := s.eng.DB().Backup(bw, 0); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := bw.Close(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// Restore loads a stream written by Backup into dir, which must be absent
// or an empty directory (ErrNotEmpty otherwise): restoring never merges
// into or overwrites a store. It loads into a fresh directory beside dir
// and renames it into place only after the whole stream authenticated
// and loaded, so a failed restore (ErrBadBackup for a tampered, truncated
// or foreign stream) leaves dir as it was. rootKey must be the key of the
// store that was backed up; the caller keeps and zeroes it.
func Restore(r io.Reader, dir string, rootKey []byte) error {
	return RestoreBound(r, dir, rootKey, nil)
}

// RestoreBound is Restore for a stream written by BackupBound with bind;
// a stream written with another binding fails authentication at its first
// chunk (ErrBadBackup). A nil bind also reads a version-1 stream.
func RestoreBound(r io.Reader, dir string, rootKey, bind []byte) error {
	if len(rootKey) != RootKeySize {
		return fmt.Errorf("store: restore: %w: root key must be %d bytes", ErrInvalid, RootKeySize)
	}
	dir = filepath.Clean(dir)
	exists := false
	switch entries, err := os.ReadDir(dir); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("store: restore: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("store: restore into %s: %w", dir, ErrNotEmpty)
	default:
		exists = true
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := restoreInto(r, tmp, rootKey, bind); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	if exists {
		if err := os.Remove(dir); err != nil { // fails if it is no longer empty
			_ = os.RemoveAll(tmp)
			return fmt.Errorf("store: restore into %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

func restoreInto(r io.Reader, dir string, rootKey, bind []byte) error {
	keys, err := barrier.Derive(rootKey, nil) // opens and seals no field
	if err != nil {
		return err
	}
	defer keys.Wipe()
	db, err := badger.Open(engine.BadgerOptions(dir, keys.BadgerKey(), slog.Default()))
	if err != nil {
		return err
	}
	br := barrier.NewBackupReader(bufio.NewReaderSize(r, 64<<10), keys.BackupKey(), bind)
	err = db.Load(br, 64)
	if br.Err() != nil { // Badger may have wrapped or masked the reader's error
		err = br.Err()
	}
	if err == nil && !br.Done() {
		err = barrier.BadBackup("stream ended early", nil)
	}
	if err == nil {
		err = db.View(func(txn *badger.Txn) error {
			if _, err := keys.Records().GetUint64(txn, metaFormat); err != nil {
				return barrier.BadBackup("no store metadata", err)
			}
			return nil
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// BackupPeekSize is how many bytes CheckBackupStart may peek: a bufio
// reader passed to it must be at least this large.
const BackupPeekSize = barrier.BackupPeekSize

// CheckBackupStart authenticates the header and first chunk of a stream
// under rootKey and bind without consuming them (r's buffer must hold
// BackupPeekSize bytes), so that a caller can refuse a stream that belongs
// to another header before it writes anything. Failures wrap ErrBadBackup.
func CheckBackupStart(r *bufio.Reader, rootKey, bind []byte) error {
	return barrier.CheckBackupStart(r, rootKey, bind)
}

package store

import (
	"errors"

	"github.com/accessd/accessd/store/internal/barrier"
	"github.com/accessd/accessd/store/internal/engine"
)

// Sentinel errors are part of the store's contract: callers (the Identity
// and token layers, and through them the HTTP edge) branch on them with
// errors.Is, never on message text. Every error the store returns wraps at
// most one of them. Those that the engine or the barrier report are
// theirs, under the same names.
var (
	// ErrNotFound says the record (or the index entry naming it) does not
	// exist, so callers can answer "no such user" without guessing.
	ErrNotFound = barrier.ErrNotFound

	// ErrExists says a record with the same ID, or a unique index value
	// (username, client ID, refresh-token hash, audit sequence), is already
	// taken, so a create or rename must pick another value.
	ErrExists = errors.New("store: already exists")

	// ErrConflict says an update lost a race: the version the caller based
	// its change on is stale, or the retries on concurrent writers ran
	// out. Re-read and try again.
	ErrConflict = engine.ErrConflict

	// ErrInvalid says a record or argument breaks a structural rule of the
	// store (empty ID, NUL byte in a key, changed ID on update) and would
	// never succeed as given.
	ErrInvalid = barrier.ErrInvalid

	// ErrClosed says the store was used after Close, which would otherwise
	// panic inside Badger.
	ErrClosed = engine.ErrClosed

	// ErrKeyMismatch says the root key handed to Open is not the one the
	// data directory was created with, so nothing can be decrypted.
	ErrKeyMismatch = engine.ErrKeyMismatch

	// ErrSealedField says a sealed field failed to open: it was corrupted,
	// moved to another record or field, or made under an unknown key term.
	ErrSealedField = barrier.ErrSealedField

	// ErrCorrupt says a stored value failed its integrity check: the data
	// directory was tampered with or damaged. The daemon should stop
	// trusting the store and restore from a backup.
	ErrCorrupt = barrier.ErrCorrupt

	// ErrBadBackup says a backup stream was tampered with, truncated, made
	// under another root key, or is not a backup at all. Nothing was
	// restored.
	ErrBadBackup = barrier.ErrBadBackup

	// ErrTooNew says the store was written by a newer accessd whose
	// layout this build cannot read; nothing was changed.
	ErrTooNew = errors.New("store: store layout is newer than this build")

	// ErrNotEmpty says Restore was pointed at a directory that already
	// holds files; restoring never overwrites or merges.
	ErrNotEmpty = errors.New("store: restore target directory is not empty")
)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

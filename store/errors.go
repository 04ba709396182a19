package store

import "errors"

// Sentinel errors are part of the store's contract: callers (the Identity
// and token layers, and through them the HTTP edge) branch on them with
// errors.Is, never on message text. Every error the store returns wraps at
// most one of them.
var (
	// ErrNotFound says the record (or the index entry naming it) does not
	// exist, so callers can answer "no such user" without guessing.
	ErrNotFound = errors.New("store: not found")

	// ErrExists says a record with the same ID, or a unique index value
	// (username, client ID, refresh-token hash, audit sequence), is already
	// taken, so a create or rename must pick another value.
	ErrExists = errors.New("store: already exists")

	// ErrConflict says an update lost a race: the version the caller based
	// its change on is stale, or the retries on concurrent writers ran
	// out. Re-read and try again.
	ErrConflict = errors.New("store: conflict")

	// ErrInvalid says a record or argument breaks a structural rule of the
	// store (empty ID, NUL byte in a key, changed ID on update) and would
	// never succeed as given.
	ErrInvalid = errors.New("store: invalid")

	// ErrClosed says the store was used after Close, which would otherwise
	// panic inside Badger.
	ErrClosed = errors.New("store: closed")

	// ErrKeyMismatch says the root key handed to Open is not the one the
	// data directory was created with, so nothing can be decrypted.
	ErrKeyMismatch = errors.New("store: root key does not match this store")

	// ErrSealedField says a sealed field failed to open: it was corrupted,
	// moved to another record or field, or made under an unknown key term.
	ErrSealedField = errors.New("store: sealed field cannot be opened")

	// ErrCorrupt says a stored value failed its integrity check: the data
	// directory was tampered with or damaged. The daemon should stop
	// trusting the store and restore from a backup.
	ErrCorrupt = errors.New("store: stored record failed its integrity check")

	// ErrBadBackup says a backup stream was tampered with, truncated, made
	// under another root key, or is not a backup at all. Nothing was
	// restored.
	ErrBadBackup = errors.New("store: backup stream is corrupt, truncated or under another key")

	// ErrTooNew says the store was written by a newer accessd whose
	// layout this build cannot read; nothing was changed.
	ErrTooNew = errors.New("store: store layout is newer than this build")

	// ErrNotEmpty says Restore was pointed at a directory that already
	// holds files; restoring never overwrites or merges.
	ErrNotEmpty = errors.New("store: restore target directory is not empty")
)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

package barrier

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Errors the barrier reports; package store exports them under the same
// names, so callers test them with errors.Is against store's.
var (
	// ErrNotFound says the record (or the index entry naming it) does not
	// exist, so callers can answer "no such user" without guessing.
	ErrNotFound = errors.New("store: not found")

	// ErrInvalid says a record or argument breaks a structural rule of the
	// store (empty ID, NUL byte in a key, changed ID on update) and would
	// never succeed as given.
	ErrInvalid = errors.New("store: invalid")

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
)

// Barrier is the key material of one store, all derived from the root key
// by Derive and cleared by Wipe: Badger's encryption key, the record
// MACs, the field keyring, the pepper and the backup key.
type Barrier struct {
	badgerKey []byte // the slice Badger holds; cleared after Close
	backupKey []byte // HKDF(root, "backup")
	pepper    []byte // HKDF(root, "pepper"): keyed hashes of high-entropy secrets
	records   *Records
	fields    *Keyring
}

// Derive derives every key of a store from rootKey (RootKeySize bytes;
// the caller checks, keeps and clears it). rand supplies the field
// keyring's nonces; it must be safe for concurrent use. The keyring's
// active term is 0 until SetActive: nothing seals before the store has
// read its metadata.
func Derive(rootKey []byte, rand io.Reader) (*Barrier, error) {
	b := &Barrier{records: &Records{}}
	var err error
	if b.badgerKey, err = derive(rootKey, nil, infoBadger); err != nil {
		return nil, err
	}
	if b.backupKey, err = derive(rootKey, nil, infoBackup); err != nil {
		b.Wipe()
		return nil, err
	}
	if b.pepper, err = derive(rootKey, nil, infoPepper); err != nil {
		b.Wipe()
		return nil, err
	}
	if b.records.key, err = derive(rootKey, nil, infoRecords); err != nil {
		b.Wipe()
		return nil, err
	}
	if b.fields, err = newKeyring(rootKey, rand); err != nil {
		b.Wipe()
		return nil, err
	}
	return b, nil
}

// BadgerKey is Badger's master key, HKDF(root, "badger"). Badger keeps
// the slice while the database is open; Wipe clears it, so wipe only
// after Badger closed.
func (b *Barrier) BadgerKey() []byte { return b.badgerKey }

// BackupKey is the key that backup streams derive their own keys from.
// It stays the barrier's: the caller neither keeps nor clears it.
func (b *Barrier) BackupKey() []byte { return b.backupKey }

// Records are the record MACs.
func (b *Barrier) Records() *Records { return b.records }

// Fields is the field keyring.
func (b *Barrier) Fields() *Keyring { return b.fields }

// Sum returns HMAC-SHA-256 of msg under the pepper for purpose (the
// length of purpose, then purpose, then msg), the keyed hash that the
// store's Sum gives its callers.
func (b *Barrier) Sum(purpose string, msg []byte) []byte {
	h := hmac.New(sha256.New, b.pepper)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(purpose)))
	h.Write(n[:])
	h.Write([]byte(purpose))
	h.Write(msg)
	return h.Sum(nil)
}

// Wipe clears the derived keys. Best-effort: Go may have copied key
// bytes while moving memory, AES key schedules cannot be reached, and
// Badger's own per-table data keys live in its memory until collected.
func (b *Barrier) Wipe() {
	clear(b.badgerKey)
	clear(b.backupKey)
	clear(b.pepper)
	if b.records != nil {
		b.records.wipe()
	}
	if b.fields != nil {
		b.fields.wipe()
	}
}

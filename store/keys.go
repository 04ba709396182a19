package store

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/accessd/accessd/store/internal/barrier"
)

// RootKeySize is the length of the root key Open, Restore and the keyring
// expect: 32 bytes of uniform randomness from the sealer.
const RootKeySize = barrier.RootKeySize

// Sealed is a field encrypted with AES-256-GCM under a term of the store's
// field keyring and bound to one record and one field name. It is stored
// as is inside the record's encoding (JSON base64); String and GoString
// describe it without ever exposing bytes, so a Sealed in a log line or a
// %v of its record shows only its term and length.
//
// Layout: version (1 byte, 1) || term (uint32, big endian) || nonce (12
// bytes) || GCM ciphertext and tag. The AAD is the 5-byte header, then the
// record key, a NUL and the field name: a ciphertext copied to another
// record or field, or relabelled with another term, does not open.
type Sealed = barrier.Sealed

// BackupTagSize is the length of a BackupTag.
const BackupTagSize = barrier.BackupTagSize

// keys is the barrier as the repositories hold it: the key material
// derived from the root key at Open (cleared at Close), its record MACs
// and its field keyring.
type keys struct {
	b      *barrier.Barrier
	mac    recordMAC
	fields *barrier.Keyring
}

func newKeys(b *barrier.Barrier) keys {
	return keys{b: b, mac: recordMAC{b.Records()}, fields: b.Fields()}
}

// recordMAC is the barrier's record MACs under the verbs the
// repositories use: every value the store puts carries the MAC of its
// key and value, every value it reads is checked (ErrCorrupt).
type recordMAC struct{ r *barrier.Records }

func (m recordMAC) put(txn *badger.Txn, key, val []byte) error { return m.r.Put(txn, key, val) }

func (m recordMAC) get(txn *badger.Txn, key []byte) ([]byte, error) { return m.r.Get(txn, key) }

func (m recordMAC) value(item *badger.Item) ([]byte, error) { return m.r.Value(item) }

func (m recordMAC) getUint64(txn *badger.Txn, key []byte) (uint64, error) {
	return m.r.GetUint64(txn, key)
}

func (m recordMAC) putUint64(txn *badger.Txn, key []byte, v uint64) error {
	return m.r.PutUint64(txn, key, v)
}

func (m recordMAC) uint64OrZero(txn *badger.Txn, key []byte) (uint64, error) {
	return m.r.Uint64OrZero(txn, key)
}

// Barrier is the store's cryptographic barrier as its consumers reach
// it: sealed fields, the field-key terms and their rotation, and the tag
// of a backup's container. Get it with Store.Barrier.
type Barrier struct{ s *Store }

// Barrier returns the store's barrier.
func (s *Store) Barrier() Barrier { return Barrier{s} }

// SealField encrypts plaintext under the active field-key term, bound to
// recordKey and field (see Sealed). Use the record-key helpers
// (UserRecordKey, SigningKeyRecordKey, ...) so that the binding matches
// the record the value is stored in. The caller clears plaintext.
func (b Barrier) SealField(recordKey, field string, plaintext []byte) (Sealed, error) {
	s := b.s
	if err := s.eng.Acquire(); err != nil {
		return nil, fmt.Errorf("store: seal field %q: %w", field, err)
	}
	defer s.eng.Release()
	out, err := s.keys.fields.Seal(recordKey, field, plaintext)
	if err != nil {
		return nil, fmt.Errorf("store: seal field %q: %w", field, err)
	}
	return out, nil
}

// OpenField decrypts a field sealed for recordKey and field under any term
// up to the active one. Failures wrap ErrSealedField. The caller owns the
// plaintext and should clear it after use.
func (b Barrier) OpenField(recordKey, field string, sealed Sealed) ([]byte, error) {
	s := b.s
	if err := s.eng.Acquire(); err != nil {
		return nil, fmt.Errorf("store: open field %q: %w", field, err)
	}
	defer s.eng.Release()
	out, err := s.keys.fields.Open(recordKey, field, sealed)
	if err != nil {
		return nil, fmt.Errorf("store: open field %q: %w", field, err)
	}
	return out, nil
}

// FieldKeyTerm reports the active field-key term, for status and for
// tooling that reseals fields still under older terms.
func (b Barrier) FieldKeyTerm() uint32 { return b.s.keys.fields.Active() }

// RetiredFieldTerm reports the highest retired field-key term (0: none).
func (b Barrier) RetiredFieldTerm() uint32 { return b.s.keys.fields.Retired() }

// RotateFieldKey moves new seals to the next key term and returns it.
// Fields sealed under older terms still open; rewrite them (OpenField then
// SealField) to retire an old term's exposure.
func (b Barrier) RotateFieldKey() (uint32, error) {
	s := b.s
	if err := s.eng.Acquire(); err != nil {
		return 0, fmt.Errorf("store: rotate field key: %w", err)
	}
	defer s.eng.Release()
	var next uint32
	err := s.eng.Retry(func(txn *badger.Txn) error {
		t, err := s.keys.mac.getUint64(txn, metaFieldTerm)
		if err != nil {
			return err
		}
		if t >= 1<<32-1 {
			return fmt.Errorf("%w: field key terms exhausted", ErrInvalid)
		}
		next = uint32(t + 1)
		return s.keys.mac.putUint64(txn, metaFieldTerm, uint64(next))
	})
	if err != nil {
		return 0, fmt.Errorf("store: rotate field key: %w", err)
	}
	s.keys.fields.Advance(next)
	return next, nil
}

// BackupTag returns HMAC-SHA-256 of header under a key derived from the
// store's backup key, so that whoever wraps a backup stream in a header
// can have restore check the header under the same root key.
func (b Barrier) BackupTag(header []byte) ([]byte, error) {
	s := b.s
	if err := s.eng.Acquire(); err != nil {
		return nil, fmt.Errorf("store: backup tag: %w", err)
	}
	defer s.eng.Release()
	return s.keys.b.BackupTag(header)
}

// CheckBackupTag checks a BackupTag with the root key, before or without
// opening a store; a mismatch wraps ErrBadBackup.
func CheckBackupTag(rootKey, header, tag []byte) error {
	return barrier.CheckBackupTag(rootKey, header, tag)
}

// BackupTagFor is BackupTag computed from the root key, for a caller that
// wraps a backup before the store is open (Options.BeforeMigrate).
func BackupTagFor(rootKey, header []byte) ([]byte, error) {
	return barrier.BackupTagFor(rootKey, header)
}

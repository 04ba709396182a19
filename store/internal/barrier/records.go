package barrier

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Records makes every value in Badger tamper-evident and bound to its
// key. Badger encrypts with AES-CTR and checks CRCs, which hide data but
// do not stop someone who can write the files from flipping plaintext
// bits or moving a value under another key. So each stored value is
//
//	value || HMAC-SHA-256(HKDF(root, "records"), len(key) || key || value)
//
// checked on every read (ErrCorrupt). The value stays plaintext inside
// Badger's encryption, so Badger's compression still works on it. A MAC
// does not detect a record that was deleted or rolled back to an older
// valid value under the same root key (see the threat model).
type Records struct{ key []byte }

// RecordTagLen is the length of the tag that ends every stored value.
const RecordTagLen = sha256.Size

func (m *Records) tag(dst, key, val []byte) []byte {
	h := hmac.New(sha256.New, m.key)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(key)))
	h.Write(n[:])
	h.Write(key)
	h.Write(val)
	return h.Sum(dst)
}

// Seal returns val with its tag appended, in a new slice: what Put
// stores.
func (m *Records) Seal(key, val []byte) []byte {
	out := make([]byte, len(val), len(val)+RecordTagLen)
	copy(out, val)
	return m.tag(out, key, val)
}

// Open checks the tag and returns the value part of stored (aliasing it).
func (m *Records) Open(key, stored []byte) ([]byte, error) {
	if len(stored) < RecordTagLen {
		return nil, fmt.Errorf("value of %d bytes has no tag: %w", len(stored), ErrCorrupt)
	}
	val := stored[:len(stored)-RecordTagLen]
	want := m.tag(make([]byte, 0, RecordTagLen), key, val)
	if !hmac.Equal(want, stored[len(val):]) {
		return nil, fmt.Errorf("record failed its integrity check: %w", ErrCorrupt)
	}
	return val, nil
}

func (m *Records) wipe() { clear(m.key) }

// Put stores val under key with its tag.
func (m *Records) Put(txn *badger.Txn, key, val []byte) error {
	return txn.Set(key, m.Seal(key, val))
}

// Get returns a checked copy of the value under key, or ErrNotFound.
func (m *Records) Get(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return m.Value(item)
}

// Value returns a checked copy of an item's value.
func (m *Records) Value(item *badger.Item) ([]byte, error) {
	var out []byte
	err := item.Value(func(b []byte) error {
		v, err := m.Open(item.Key(), b)
		if err != nil {
			return err
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// GetUint64 reads a counter of the store's metadata, ErrNotFound when
// unset.
func (m *Records) GetUint64(txn *badger.Txn, key []byte) (uint64, error) {
	b, err := m.Get(txn, key)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("metadata %q has %d bytes: %w", key, len(b), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

// PutUint64 writes a counter of the store's metadata.
func (m *Records) PutUint64(txn *badger.Txn, key []byte, v uint64) error {
	return m.Put(txn, key, binary.BigEndian.AppendUint64(nil, v))
}

// Uint64OrZero reads a counter of the store's metadata, 0 when unset.
func (m *Records) Uint64OrZero(txn *badger.Txn, key []byte) (uint64, error) {
	v, err := m.GetUint64(txn, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return v, err
}

package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// recordMAC makes every value in Badger tamper-evident and bound to its
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
type recordMAC struct{ key []byte }

const recordTagLen = sha256.Size

func (m *recordMAC) tag(dst, key, val []byte) []byte {
	h := hmac.New(sha256.New, m.key)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(key)))
	h.Write(n[:])
	h.Write(key)
	h.Write(val)
	return h.Sum(dst)
}

// seal returns val with its tag appended, in a new slice.
func (m *recordMAC) seal(key, val []byte) []byte {
	out := make([]byte, len(val), len(val)+recordTagLen)
	copy(out, val)
	return m.tag(out, key, val)
}

// open checks the tag and returns the value part of stored (aliasing it).
func (m *recordMAC) open(key, stored []byte) ([]byte, error) {
	if len(stored) < recordTagLen {
		return nil, fmt.Errorf("value of %d bytes has no tag: %w", len(stored), ErrCorrupt)
	}
	val := stored[:len(stored)-recordTagLen]
	want := m.tag(make([]byte, 0, recordTagLen), key, val)
	if !hmac.Equal(want, stored[len(val):]) {
		return nil, fmt.Errorf("record failed its integrity check: %w", ErrCorrupt)
	}
	return val, nil
}

func (m *recordMAC) wipe() { clear(m.key) }

// put stores val under key with its tag.
func (m *recordMAC) put(txn *badger.Txn, key, val []byte) error {
	return txn.Set(key, m.seal(key, val))
}

// get returns a checked copy of the value under key, or ErrNotFound.
func (m *recordMAC) get(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return m.value(item)
}

// value returns a checked copy of an item's value.
func (m *recordMAC) value(item *badger.Item) ([]byte, error) {
	var out []byte
	err := item.Value(func(b []byte) error {
		v, err := m.open(item.Key(), b)
		if err != nil {
			return err
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

func (m *recordMAC) getUint64(txn *badger.Txn, key []byte) (uint64, error) {
	b, err := m.get(txn, key)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("metadata %q has %d bytes: %w", key, len(b), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

func (m *recordMAC) putUint64(txn *badger.Txn, key []byte, v uint64) error {
	return m.put(txn, key, binary.BigEndian.AppendUint64(nil, v))
}

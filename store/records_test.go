package store

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/internal/barrier"
)

// rawSet writes bytes under a key behind the store's back, as someone
// with write access to the files (and a way through Badger's encryption)
// would.
func rawSet(t *testing.T, s *Store, key, val []byte) {
	t.Helper()
	require.NoError(t, s.eng.DB().Update(func(txn *badger.Txn) error { return txn.Set(key, val) }))
}

func rawGet(t *testing.T, s *Store, key []byte) []byte {
	t.Helper()
	var out []byte
	err := s.eng.DB().View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	require.NoError(t, err)
	return out
}

func TestTamperedRecordsAreRefused(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), goldenRoot, Options{})
	require.NoError(t, err)
	defer s.Close()
	a, err := s.Users().Create(User{Username: "alice", Disabled: true})
	require.NoError(t, err)
	b, err := s.Users().Create(User{Username: "bob"})
	require.NoError(t, err)
	keyA, keyB := []byte("user/"+a.ID), []byte("user/"+b.ID)
	storedA := rawGet(t, s, keyA)

	tests := []struct {
		name  string
		key   []byte
		value []byte
		read  func() error
	}{
		{"flipped bit in a record", keyA, flipAt(storedA, 20), func() error { _, err := s.Users().Get(a.ID); return err }},
		{"record moved under another key", keyB, storedA, func() error { _, err := s.Users().Get(b.ID); return err }},
		{"tag stripped", keyA, storedA[:len(storedA)-barrier.RecordTagLen], func() error { _, err := s.Users().Get(a.ID); return err }},
		{"index repointed", usernameKey("bob"), append([]byte(a.ID), rawGet(t, s, usernameKey("bob"))[len(b.ID):]...),
			func() error { _, err := s.Users().GetByUsername("bob"); return err }},
		{"record in a listing", keyA, flipAt(storedA, 5), func() error { _, err := s.Users().List("", 0); return err }},
		{"metadata", metaFieldTerm, []byte{0, 0, 0, 0, 0, 0, 0, 9}, func() error { _, err := s.Barrier().RotateFieldKey(); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := rawGet(t, s, tc.key)
			defer rawSet(t, s, tc.key, orig)
			rawSet(t, s, tc.key, tc.value)
			require.ErrorIs(t, tc.read(), ErrCorrupt, "read after tampering")
		})
	}
	// Restored originals read fine again.
	got, err := s.Users().Get(a.ID)
	require.NoError(t, err, "original record after restore")
	require.True(t, got.Disabled, "original record after restore: %+v", got)
}

func flipAt(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

// FuzzRecordDecode feeds the record decoder arbitrary stored bytes: the
// MAC check never panics and never passes bytes it did not tag, and a
// tagged value decodes (or fails cleanly) into every kind of record.
func FuzzRecordDecode(f *testing.F) {
	keys, err := barrier.Derive(goldenRoot, nil)
	require.NoError(f, err)
	m := keys.Records()
	f.Add([]byte("user/x"), m.Seal([]byte("user/x"), []byte(`{"id":"x","username":"a"}`)), false)
	f.Add([]byte("cred/x"), []byte(`{"passwordHash":"$argon2id$"}`), true)
	f.Add([]byte(""), []byte{}, true)
	f.Add([]byte("k"), bytes.Repeat([]byte{0}, 32), false)
	f.Fuzz(func(t *testing.T, key, stored []byte, tagIt bool) {
		if tagIt {
			stored = m.Seal(key, stored)
		}
		val, err := m.Open(key, stored)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt, "open failed without ErrCorrupt: %v", err)
			return
		}
		if !tagIt {
			require.True(t, bytes.Equal(m.Seal(key, val), stored), "open accepted bytes whose tag is not the record's")
		}
		for _, rec := range []any{&User{}, &Credential{}, &LoginState{}, &Group{}, &Application{}, &RefreshFamily{}, &SigningKey{}, &RevokedToken{}, &AuditEntry{}} {
			_ = json.Unmarshal(val, rec)
		}
	})
}

package store

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

// v2User writes a user as layout 2 stored it: username indexed, no
// e-mail index.
func v2User(t *testing.T, s *Store, txn *badger.Txn, id, username, email string) {
	t.Helper()
	b, err := json.Marshal(User{ID: id, Username: username, Email: email, CreatedAt: v1Time, UpdatedAt: v1Time, Version: 1})
	require.NoError(t, err)
	require.NoError(t, s.keys.mac.put(txn, []byte(UserRecordKey(id)), b))
	require.NoError(t, s.keys.mac.put(txn, usernameKey(username), []byte(id)))
}

// TestMigrateEmailsV2: layout 3 indexes every address one account holds
// alone, marks every account of a shared one (two accounts, three
// accounts, an address that is another account's username) without
// failing the start, reports them, and a second run changes nothing.
func TestMigrateEmailsV2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	func() {
		s, err := Open(dir, goldenRoot, Options{})
		require.NoError(t, err)
		defer s.Close()
		err = s.eng.DB().Update(func(txn *badger.Txn) error {
			v2User(t, s, txn, "u-1", "ana", "ana@example.test")
			v2User(t, s, txn, "u-2", "bia", "Shared@Example.test")
			v2User(t, s, txn, "u-3", "caio", "shared@example.TEST")
			v2User(t, s, txn, "u-4", "dora", "SHARED@example.test")
			v2User(t, s, txn, "u-5", "eva@example.test", "eva.other@example.test")
			v2User(t, s, txn, "u-6", "fabio", "Eva@Example.test")
			v2User(t, s, txn, "u-7", "gil", "")
			return s.keys.mac.putUint64(txn, metaFormat, 2)
		})
		require.NoError(t, err)
	}()
	var calls []migrateCall
	s := openRecording(t, dir, &calls)
	require.Len(t, calls, 1, "BeforeMigrate calls = %+v, want one from 2 to %d", calls, formatVersion)
	require.Equal(t, 2, calls[0].from, "BeforeMigrate calls = %+v, want one from 2 to %d", calls, formatVersion)
	require.Equal(t, formatVersion, calls[0].to, "BeforeMigrate calls = %+v, want one from 2 to %d", calls, formatVersion)
	require.Equal(t, uint64(formatVersion), layout(t, s), "layout")
	wantShared := []string{"u-2", "u-3", "u-4", "u-6"}
	require.Equal(t, wantShared, s.EmailsShared(), "EmailsShared")
	check := func(s *Store) {
		t.Helper()
		for _, tc := range []struct {
			addr, id string
		}{
			{"ana@example.test", "u-1"},
			{"eva.other@example.test", "u-5"},
		} {
			u, err := s.Users().GetByEmail(FoldEmail(tc.addr))
			require.NoError(t, err, "GetByEmail(%q)", tc.addr)
			require.Equal(t, tc.id, u.ID, "GetByEmail(%q) = %q; want %s", tc.addr, u.ID, tc.id)
		}
		for _, addr := range []string{"shared@example.test", "eva@example.test"} {
			u, err := s.Users().GetByEmail(addr)
			require.ErrorIs(t, err, ErrNotFound, "GetByEmail(%q) = %q, %v; want not found (shared)", addr, u.ID, err)
		}
		for _, id := range []string{"u-1", "u-2", "u-3", "u-4", "u-5", "u-6", "u-7"} {
			u, err := s.Users().Get(id)
			require.NoError(t, err)
			require.Equal(t, slices.Contains(wantShared, id), u.EmailShared, "user %s EmailShared", id)
		}
		u, err := s.Users().GetByUsername("eva@example.test")
		require.NoError(t, err, "username eva@example.test")
		require.Equal(t, "u-5", u.ID, "username eva@example.test = %q; want u-5", u.ID)
		var marks []string
		err = s.eng.DB().View(func(txn *badger.Txn) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = []byte("idx/emailshared/")
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				marks = append(marks, string(it.Item().Key()))
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, []string{"idx/emailshared/shared@example.test"}, marks, "shared marks")
	}
	check(s)
	before := dump(t, s)
	// The migration again (as after a crash before the layout moved):
	// the same records, the same index.
	require.NoError(t, (migration{s}).migrateEmailsV2())
	check(s)
	require.Equal(t, before, dump(t, s), "a second run of the migration changed the store")
	// Nobody claims a shared address until its mark is released.
	_, err := s.Users().Create(User{Username: "hugo", Email: "Shared@example.test"})
	var te *TakenError
	require.ErrorAs(t, err, &te, "claiming a shared address: %v, want a TakenError of emailshared", err)
	require.Equal(t, "emailshared", te.Index, "claiming a shared address: %v, want a TakenError of emailshared", err)
	_, err = s.Users().Update("u-1", func(u User) (User, error) { u.Email = "shared@example.test"; return u, nil })
	require.ErrorIs(t, err, ErrExists, "moving to a shared address: %v, want ErrExists", err)
	require.NoError(t, s.Users().ReleaseSharedEmail("shared@example.test"))
	_, err = s.Users().Create(User{Username: "hugo", Email: "Shared@example.test"})
	require.NoError(t, err, "after the release")
	s.Close()
}

// TestUserEmailUnique: the store refuses a second account with the same
// folded address, a username that is another account's address and an
// address that is another account's username, on create and on update,
// and says which index refused; a user may have its own username as its
// address.
func TestUserEmailUnique(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), goldenRoot, Options{})
	require.NoError(t, err)
	defer s.Close()
	mk := func(name, email string) (User, error) {
		return s.Users().Create(User{Username: name, Email: email})
	}
	a, err := mk("ana", "Ana@Example.test")
	require.NoError(t, err)
	_, err = mk("self@example.test", "Self@example.test")
	require.NoError(t, err, "username equal to its own address")
	b, err := mk("bia", "bia@example.test")
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		run   func() error
		index string
		cross bool
	}{
		{"create same address other case", func() error { _, err := mk("carla", "ANA@example.TEST"); return err }, "email", false},
		{"create username is an address", func() error { _, err := mk("ana@example.test", "x@example.test"); return err }, "email", true},
		{"create address is a username", func() error { _, err := mk("dora", "Bia"); return err }, "username", true},
		{"update to a taken address", func() error {
			_, err := s.Users().Update(b.ID, func(u User) (User, error) { u.Email = "ana@EXAMPLE.test"; return u, nil })
			return err
		}, "email", false},
		{"update username to an address", func() error {
			_, err := s.Users().Update(b.ID, func(u User) (User, error) { u.Username = "ana@example.test"; return u, nil })
			return err
		}, "email", true},
		{"update address to a username", func() error {
			_, err := s.Users().Update(a.ID, func(u User) (User, error) { u.Email = "bia"; return u, nil })
			return err
		}, "username", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var te *TakenError
			require.ErrorIs(t, err, ErrExists, "err = %v, want a TakenError{%s, cross %v}", err, tc.index, tc.cross)
			require.ErrorAs(t, err, &te, "err = %v, want a TakenError{%s, cross %v}", err, tc.index, tc.cross)
			require.Equal(t, tc.index, te.Index, "err = %v, want a TakenError{%s, cross %v}", err, tc.index, tc.cross)
			require.Equal(t, tc.cross, te.Cross, "err = %v, want a TakenError{%s, cross %v}", err, tc.index, tc.cross)
		})
	}
	// A shared address (from the migration) is not indexed, so it does
	// not block; clearing the mark claims it.
	c, err := s.Users().Create(User{Username: "caio", Email: "ana@example.test", EmailShared: true})
	require.NoError(t, err, "shared address")
	_, err = s.Users().Update(c.ID, func(u User) (User, error) { u.EmailShared = false; return u, nil })
	require.ErrorIs(t, err, ErrExists, "claiming a held address: %v, want ErrExists", err)
	_, err = s.Users().Update(b.ID, func(u User) (User, error) { u.Email = "bia2@example.test"; return u, nil })
	require.NoError(t, err)
	u, err := s.Users().GetByEmail("bia2@example.test")
	require.NoError(t, err, "moved address")
	require.Equal(t, b.ID, u.ID, "moved address: %q", u.ID)
	_, err = s.Users().GetByEmail("bia@example.test")
	require.ErrorIs(t, err, ErrNotFound, "old address still indexed: %v", err)
}

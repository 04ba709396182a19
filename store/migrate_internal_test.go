package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/internal/barrier"
	"github.com/accessd/accessd/store/internal/engine"
)

var v1Time = time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)

const v1Hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"

// v1User writes a user record as layout 1 did: password hash, MFA and
// login counters inside it, its TOTP seed sealed to "user/<id>" field
// "mfa.totpSeed", and the username indexed lowercased.
func v1User(t *testing.T, s *Store, txn *badger.Txn, id, username string, groups []string, seed []byte) {
	t.Helper()
	mfa := map[string]any{}
	if seed != nil {
		sealed, err := s.keys.fields.Seal(UserRecordKey(id), "mfa.totpSeed", seed)
		require.NoError(t, err)
		mfa = map[string]any{"totpSeed": sealed, "enabled": true, "recoveryCodeHashes": []string{"r1", "r2"}}
	}
	rec := map[string]any{
		"id": id, "username": username, "email": username + "@example.test", "groups": groups,
		"passwordHash": v1Hash, "mfa": mfa, "failedLogins": 3, "lockedUntil": v1Time.Add(time.Hour),
		"passwordChangedAt": v1Time, "lastLoginAt": v1Time.Add(time.Minute), "logoutAt": time.Time{},
		"createdAt": v1Time, "updatedAt": v1Time, "version": 4,
	}
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	require.NoError(t, s.keys.mac.put(txn, []byte("user/"+id), b))
	lower := bytes.ToLower([]byte(username))
	require.NoError(t, s.keys.mac.put(txn, append([]byte("idx/username/"), lower...), []byte(id)))
}

func v1App(t *testing.T, s *Store, txn *badger.Txn, id, clientID string, groups []string) {
	t.Helper()
	rec := map[string]any{
		"id": id, "name": "app " + id, "clientId": clientID, "groups": groups,
		"expiresAt": time.Time{}, "createdAt": v1Time, "updatedAt": v1Time, "lastUsedAt": v1Time.Add(2 * time.Minute), "version": 2,
	}
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	require.NoError(t, s.keys.mac.put(txn, []byte("app/"+id), b))
	require.NoError(t, s.keys.mac.put(txn, clientIDKey(clientID), []byte(id)))
}

// v1Store makes a layout-1 store in dir holding what fill writes, and
// closes it.
func v1Store(t *testing.T, dir string, fill func(s *Store, txn *badger.Txn)) {
	t.Helper()
	s, err := Open(dir, goldenRoot, Options{})
	require.NoError(t, err)
	defer s.Close()
	err = s.eng.DB().Update(func(txn *badger.Txn) error {
		fill(s, txn)
		return s.keys.mac.putUint64(txn, metaFormat, 1)
	})
	require.NoError(t, err)
}

func layout(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	err := s.eng.DB().View(func(txn *badger.Txn) error {
		var err error
		v, err = s.keys.mac.getUint64(txn, metaFormat)
		return err
	})
	require.NoError(t, err)
	return v
}

type migrateCall struct {
	from, to int
	backup   []byte
}

func openRecording(t *testing.T, dir string, calls *[]migrateCall) *Store {
	t.Helper()
	s, err := Open(dir, goldenRoot, Options{BeforeMigrate: func(from, to int, backup func(io.Writer, []byte) error) error {
		var b bytes.Buffer
		if err := backup(&b, nil); err != nil {
			return err
		}
		*calls = append(*calls, migrateCall{from, to, b.Bytes()})
		return nil
	}})
	require.NoError(t, err, "open")
	return s
}

// checkMigrated checks what layout 2 must hold for the v1 user and app.
func checkMigrated(t *testing.T, s *Store, userID, appID string, seed []byte) {
	t.Helper()
	require.Equal(t, uint64(formatVersion), layout(t, s), "layout after migration")
	u, err := s.Users().GetByUsername("alice")
	require.NoError(t, err, "lowercased username after migration")
	require.Equal(t, userID, u.ID, "lowercased username after migration: %+v", u)
	_, err = s.Users().GetByUsername("Alice")
	require.ErrorIs(t, err, ErrNotFound, "username as layout 1 stored it: %v, want ErrNotFound", err)
	require.Equal(t, "Alice@example.test", u.Email, "user after migration = %+v", u)
	require.Equal(t, uint64(4), u.Version, "user after migration = %+v", u)
	require.Equal(t, []string{"ops", "audit"}, u.Groups, "user after migration = %+v", u)
	raw := rawGet(t, s, []byte("user/"+userID))
	for _, gone := range []string{"passwordHash", "failedLogins", "mfa", "lockedUntil"} {
		require.NotContains(t, string(raw), `"`+gone+`"`, "user record still holds %s after migration", gone)
	}
	c, err := s.Credentials().Get(userID)
	require.NoError(t, err)
	require.Equal(t, v1Hash, c.PasswordHash, "credential after migration = %+v", c)
	require.True(t, c.PasswordChangedAt.Equal(v1Time), "credential after migration = %+v", c)
	require.True(t, c.TOTPEnabled, "credential after migration = %+v", c)
	require.Len(t, c.RecoveryCodeHashes, 2, "credential after migration = %+v", c)
	require.Equal(t, "r2", string(c.RecoveryCodeHashes[1]), "credential after migration = %+v", c)
	got, err := s.Credentials().OpenTOTPSeed(c)
	require.NoError(t, err, "TOTP seed from the credential")
	require.Equal(t, seed, got, "TOTP seed from the credential")
	l, err := s.Logins().Get(userID)
	require.NoError(t, err, "user login state after migration")
	require.Equal(t, 3, l.FailedLogins, "user login state after migration = %+v", l)
	require.True(t, l.LockedUntil.Equal(v1Time.Add(time.Hour)), "user login state after migration = %+v", l)
	require.True(t, l.LastLoginAt.Equal(v1Time.Add(time.Minute)), "user login state after migration = %+v", l)
	al, err := s.Logins().Get(appID)
	require.NoError(t, err, "app login state after migration")
	require.True(t, al.LastLoginAt.Equal(v1Time.Add(2*time.Minute)), "app login state after migration = %+v", al)
	a, err := s.Applications().GetByClientID("cid-1")
	require.NoError(t, err, "app after migration")
	require.Equal(t, appID, a.ID, "app after migration = %+v", a)
	require.Equal(t, uint64(2), a.Version, "app after migration = %+v", a)
	require.NotContains(t, string(rawGet(t, s, []byte("app/"+appID))), "lastUsedAt", "app record still holds lastUsedAt after migration")
	m, err := s.Groups().Members("ops")
	want := []Member{{MemberApp, appID}, {MemberUser, userID}}
	require.NoError(t, err, "members of ops")
	require.Equal(t, want, m, "members of ops")
	m, err = s.Groups().Members("audit")
	require.NoError(t, err, "members of audit")
	require.Equal(t, want[1:], m, "members of audit")
}

// TestMigrateV1: a layout-1 store opens as layout 2 with credentials,
// login state and the member index made from the old records, after the
// backup hook saw the old layout and wrote a restorable backup.
func TestMigrateV1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := []byte("JBSWY3DPEHPK3PXP-v1")
	v1Store(t, dir, func(s *Store, txn *badger.Txn) {
		v1User(t, s, txn, "u-1", "Alice", []string{"ops", "audit"}, seed)
		v1App(t, s, txn, "a-1", "cid-1", []string{"ops"})
	})
	var calls []migrateCall
	s := openRecording(t, dir, &calls)
	checkMigrated(t, s, "u-1", "a-1", seed)
	require.NoError(t, s.Close())
	const want = "BeforeMigrate calls = %+v, want one from 1 to %d with a backup"
	require.Len(t, calls, 1, want, calls, formatVersion)
	require.Equal(t, 1, calls[0].from, want, calls, formatVersion)
	require.Equal(t, formatVersion, calls[0].to, want, calls, formatVersion)
	require.NotEmpty(t, calls[0].backup, want, calls, formatVersion)
	// A second open has nothing to migrate.
	s = openRecording(t, dir, &calls)
	checkMigrated(t, s, "u-1", "a-1", seed)
	s.Close()
	require.Len(t, calls, 1, "BeforeMigrate called again on a layout-2 store")

	// The backup is of the store as it was: restored, it is layout 1
	// again, and migrates the same way.
	restored := filepath.Join(t.TempDir(), "db")
	require.NoError(t, Restore(bytes.NewReader(calls[0].backup), restored, goldenRoot), "restore the pre-migration backup")
	var again []migrateCall
	s = openRecording(t, restored, &again)
	defer s.Close()
	require.Len(t, again, 1, "restored backup: BeforeMigrate calls %+v, want one from layout 1", again)
	require.Equal(t, 1, again[0].from, "restored backup: BeforeMigrate calls %+v, want one from layout 1", again)
	checkMigrated(t, s, "u-1", "a-1", seed)
}

// TestMigrateV1Refused: an error from BeforeMigrate stops Open and leaves
// the store at layout 1.
func TestMigrateV1Refused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1Store(t, dir, func(s *Store, txn *badger.Txn) { v1User(t, s, txn, "u-1", "Alice", nil, nil) })
	errNoSpace := errors.New("no space for the backup")
	_, err := Open(dir, goldenRoot, Options{BeforeMigrate: func(int, int, func(io.Writer, []byte) error) error { return errNoSpace }})
	require.ErrorIs(t, err, errNoSpace, "open with a failing backup hook: %v", err)
	s, err := Open(dir, goldenRoot, Options{BeforeMigrate: func(from, _ int, _ func(io.Writer, []byte) error) error {
		assert.Equal(t, 1, from, "layout after a refused migration = %d, want 1", from)
		return nil
	}})
	require.NoError(t, err)
	s.Close()
}

// TestMigrateV1Interrupted: a migration that stopped after some batches
// (users done, applications not, layout still 1) is completed by the next
// Open, without redoing or losing what was done; many users span several
// batches.
func TestMigrateV1Interrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = migrateBatch + 50
	seed := []byte("JBSWY3DPEHPK3PXP-v1")
	v1Store(t, dir, func(s *Store, txn *badger.Txn) {
		v1User(t, s, txn, "u-1", "Alice", []string{"ops", "audit"}, seed)
		for i := range n {
			v1User(t, s, txn, fmt.Sprintf("u-%04d", i+2), fmt.Sprintf("User%04d", i), []string{"many"}, nil)
		}
		v1App(t, s, txn, "a-1", "cid-1", []string{"ops"})
	})
	// Half a migration: the user step ran, then the process died.
	s, err := Open(dir, goldenRoot, Options{BeforeMigrate: func(int, int, func(io.Writer, []byte) error) error { return errors.New("stop") }})
	if err == nil {
		s.Close()
	}
	require.Error(t, err, "open did not stop")
	s = openRaw(t, dir)
	require.NoError(t, (migration{s}).migrateUsersV1())
	// A user changed after the first pass must keep its credential
	// (the user record no longer carries the hash to rebuild it from).
	c, err := s.Credentials().Get("u-1")
	require.NoError(t, err, "credential after the user step")
	require.Equal(t, v1Hash, c.PasswordHash, "credential after the user step: %+v", c)
	require.Equal(t, uint64(1), layout(t, s), "layout after an interrupted migration")
	closeRaw(t, s)

	var calls []migrateCall
	s = openRecording(t, dir, &calls)
	defer s.Close()
	require.Len(t, calls, 1, "BeforeMigrate calls = %+v", calls)
	require.Equal(t, 1, calls[0].from, "BeforeMigrate calls = %+v", calls)
	checkMigrated(t, s, "u-1", "a-1", seed)
	m, err := s.Groups().Members("many")
	require.NoError(t, err, "members of many")
	require.Len(t, m, n, "members of many = %d; want %d", len(m), n)
	for i := range n {
		name := fmt.Sprintf("user%04d", i)
		u, err := s.Users().GetByUsername(name)
		require.NoError(t, err, "%s after migration", name)
		c, err := s.Credentials().Get(u.ID)
		require.NoError(t, err, "credential of %s", name)
		require.Equal(t, v1Hash, c.PasswordHash, "credential of %s: %+v", name, c)
	}
	// Idempotent: the whole migration once more changes nothing.
	before := dump(t, s)
	require.NoError(t, (migration{s}).migrate(1))
	require.Equal(t, before, dump(t, s), "a second run of the migration changed records")
}

// TestOpenRefusesNewerLayout: a store written by a newer accessd is
// refused with ErrTooNew and left as it was.
func TestOpenRefusesNewerLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, goldenRoot, Options{})
	require.NoError(t, err)
	_, err = s.Users().Create(User{Username: "kept"})
	require.NoError(t, err)
	require.NoError(t, s.eng.DB().Update(func(txn *badger.Txn) error { return s.keys.mac.putUint64(txn, metaFormat, formatVersion+1) }))
	before := dump(t, s)
	s.Close()
	called := false
	_, err = Open(dir, goldenRoot, Options{BeforeMigrate: func(int, int, func(io.Writer, []byte) error) error { called = true; return nil }})
	require.ErrorIs(t, err, ErrTooNew, "open of a newer layout: %v (BeforeMigrate called: %v), want ErrTooNew", err, called)
	require.False(t, called, "open of a newer layout: %v (BeforeMigrate called: %v), want ErrTooNew", err, called)
	s = openRaw(t, dir)
	defer closeRaw(t, s)
	require.Equal(t, uint64(formatVersion+1), layout(t, s), "layout after refusal")
	require.Equal(t, before, dump(t, s), "a refused open changed records")
}

// openRaw opens the Badger database of a store without Open's metadata
// checks and migration, as a test's view of the files.
func openRaw(t *testing.T, dir string) *Store {
	t.Helper()
	s := &Store{log: slog.New(slog.DiscardHandler), now: time.Now, rand: zeroReader{}}
	b, err := barrier.Derive(goldenRoot, s.rand)
	require.NoError(t, err)
	s.keys = newKeys(b)
	s.keys.fields.SetActive(1)
	s.eng, err = engine.Open(dir, b.BadgerKey(), s.log)
	require.NoError(t, err)
	s.userT, s.credT, s.loginT = userTable(s), credentialTable(s), loginTable(s)
	s.groupT, s.appT = groupTable(s), applicationTable(s)
	return s
}

func closeRaw(t *testing.T, s *Store) {
	t.Helper()
	require.NoError(t, s.eng.Close(nil))
}

// dump returns every key and value of the store.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.eng.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

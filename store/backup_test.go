package store_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// makeBackup fills a store with users (every tenth with a sealed seed)
// and returns a backup taken while another goroutine keeps writing,
// together with the IDs that existed before the backup began.
func makeBackup(t *testing.T) (backup []byte, before []string) {
	t.Helper()
	st, err := store.Open(t.TempDir(), testRoot, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	for i := range 400 {
		var id string
		err := st.Update(func(tx *store.Tx) error {
			u, err := tx.Users().Create(store.User{Username: fmt.Sprintf("user-%03d", i), Email: fmt.Sprintf("padding-to-make-the-backup-span-chunks-%03d@example.test", i)})
			if err != nil {
				return err
			}
			id = u.ID
			c := store.Credential{ID: u.ID, PasswordHash: phc}
			if i%10 == 0 {
				if c.TOTPSeed, err = tx.Credentials().SealTOTPSeed(u.ID, []byte("seed-"+u.ID)); err != nil {
					return err
				}
			}
			_, err = tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) { return c, nil })
			return err
		})
		require.NoError(t, err)
		before = append(before, id)
	}
	_, err = st.Barrier().RotateFieldKey() // restored stores must know term 2
	require.NoError(t, err)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if _, err := st.Users().Create(store.User{Username: fmt.Sprintf("during-%d", i)}); !assert.NoError(t, err, "write during backup") {
				return
			}
			written.Add(1)
		}
	})
	for written.Load() < 5 { // make sure writes are in flight
		runtime.Gosched()
	}
	var buf bytes.Buffer
	err = st.Barrier().Backup(&buf)
	stop.Store(true)
	wg.Wait()
	require.NoError(t, err, "backup")
	t.Logf("backup of %d bytes; %d writes went on around it", buf.Len(), written.Load())
	return buf.Bytes(), before
}

const phc = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$5Wl0cVgyUEk5cWFxcUhkM2dPRlVwZ2ZRZ3JrY2VqYQ"

func TestBackupRestore(t *testing.T) {
	t.Parallel()
	backup, before := makeBackup(t)
	require.False(t, bytes.Contains(backup, []byte("user-001")), "backup stream contains plaintext")
	require.False(t, bytes.Contains(backup, []byte(phc)), "backup stream contains plaintext")

	dir := filepath.Join(t.TempDir(), "db")
	require.NoError(t, store.Restore(bytes.NewReader(backup), dir, testRoot), "restore")
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err, "open restored store")
	defer st.Close()
	require.Equal(t, uint32(2), st.Barrier().FieldKeyTerm(), "restored field term")
	seeds := 0
	for i, id := range before {
		u, err := st.Users().Get(id)
		require.NoError(t, err, "user %d missing after restore", i)
		byName, err := st.Users().GetByUsername(u.Username)
		require.NoError(t, err, "username index of user %d not restored", i)
		require.Equal(t, id, byName.ID, "username index of user %d not restored", i)
		c, err := st.Credentials().Get(id)
		require.NoError(t, err, "credential of user %d after restore", i)
		require.Equal(t, phc, c.PasswordHash, "credential of user %d after restore: %+v", i, c)
		if len(c.TOTPSeed) > 0 {
			seed, err := st.Credentials().OpenTOTPSeed(c)
			require.NoError(t, err, "sealed seed of user %d after restore", i)
			require.Equal(t, "seed-"+id, string(seed), "sealed seed of user %d after restore", i)
			seeds++
		}
	}
	require.Equal(t, 40, seeds, "opened %d seeds, want 40", seeds)
	// The snapshot is consistent: of the single writer's sequential
	// creates it holds exactly a prefix.
	all, err := st.Users().List("", 0)
	require.NoError(t, err)
	during := map[string]bool{}
	for _, u := range all {
		if strings.HasPrefix(u.Username, "during-") {
			during[u.Username] = true
		}
	}
	for i := range len(during) {
		require.True(t, during[fmt.Sprintf("during-%d", i)], "snapshot holds %d concurrent writes but not during-%d", len(during), i)
	}
	t.Logf("snapshot holds %d of the concurrent writes", len(during))
	// The restored store is a working store.
	_, err = st.Users().Create(store.User{Username: "after-restore"})
	require.NoError(t, err, "write to restored store")
	_, err = st.Users().Create(store.User{Username: "user-001"})
	require.ErrorIs(t, err, store.ErrExists, "unique index after restore: %v", err)
}

func TestRestoreIntoEmptyExistingDir(t *testing.T) {
	t.Parallel()
	backup, before := makeBackup(t)
	dir := t.TempDir() // exists, empty
	require.NoError(t, store.Restore(bytes.NewReader(backup), dir, testRoot), "restore into empty dir")
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Users().Get(before[0])
	require.NoError(t, err)
}

func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	backup, _ := makeBackup(t)
	flip := func(at int) []byte {
		b := bytes.Clone(backup)
		b[at] ^= 0x01
		return b
	}
	const header = 17 + 32
	const frame = 5 + 64<<10 + 16
	require.GreaterOrEqual(t, len(backup), header+2*frame, "backup of %d bytes is too small to span chunks", len(backup))
	other := bytes.Repeat([]byte{0x43}, store.RootKeySize)
	tests := []struct {
		name   string
		stream []byte
		key    []byte
		want   error
	}{
		{"flipped magic", flip(0), testRoot, store.ErrBadBackup},
		{"flipped salt", flip(20), testRoot, store.ErrBadBackup},
		{"flipped chunk flag", flip(header), testRoot, store.ErrBadBackup},
		{"flipped length", flip(header + 3), testRoot, store.ErrBadBackup},
		{"flipped first chunk", flip(header + 100), testRoot, store.ErrBadBackup},
		{"flipped second chunk", flip(header + frame + 1000), testRoot, store.ErrBadBackup},
		{"flipped last byte", flip(len(backup) - 1), testRoot, store.ErrBadBackup},
		{"truncated inside last chunk", backup[:len(backup)-10], testRoot, store.ErrBadBackup},
		{"truncated at chunk boundary", backup[:header+frame], testRoot, store.ErrBadBackup},
		{"truncated to header", backup[:header], testRoot, store.ErrBadBackup},
		{"empty", nil, testRoot, store.ErrBadBackup},
		{"trailing data", append(bytes.Clone(backup), 0), testRoot, store.ErrBadBackup},
		{"chunks swapped", swapChunks(backup, header, frame), testRoot, store.ErrBadBackup},
		{"other root key", backup, other, store.ErrBadBackup},
		{"short root key", backup, testRoot[:8], store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "db")
			err := store.Restore(bytes.NewReader(tc.stream), dir, tc.key)
			require.ErrorIs(t, err, tc.want, "restore: %v, want %v", err, tc.want)
			_, err = os.Stat(dir)
			require.ErrorIs(t, err, os.ErrNotExist, "failed restore left %s behind: %v", dir, err)
			left, _ := os.ReadDir(filepath.Dir(dir))
			require.Empty(t, left, "failed restore left %d entries next to the target", len(left))
		})
	}

	t.Run("non-empty dir", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		marker := filepath.Join(dir, "keep")
		require.NoError(t, os.WriteFile(marker, []byte("x"), 0o600))
		err := store.Restore(bytes.NewReader(backup), dir, testRoot)
		require.ErrorIs(t, err, store.ErrNotEmpty, "restore into non-empty dir: %v, want ErrNotEmpty", err)
		_, err = os.Stat(marker)
		require.NoError(t, err, "restore touched the non-empty dir")
	})
	t.Run("existing store", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		st, err := store.Open(dir, testRoot, store.Options{})
		require.NoError(t, err)
		st.Close()
		require.ErrorIs(t, store.Restore(bytes.NewReader(backup), dir, testRoot), store.ErrNotEmpty, "restore over a store")
	})
}

func swapChunks(b []byte, header, frame int) []byte {
	out := bytes.Clone(b)
	copy(out[header:], b[header+frame:header+2*frame])
	copy(out[header+frame:], b[header:header+frame])
	return out
}

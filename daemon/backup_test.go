package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// backupFixture is a data dir with root.recovery and a store with a user,
// and a backup file of it.
func backupFixture(t *testing.T) (file []byte, rk seal.RecoveryKey, root seal.RootKey) {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.Mkdir(sealDir(d), 0o700))
	root, err := seal.NewRootKey(nil)
	require.NoError(t, err)
	rk, err = seal.NewRecoveryKey(nil)
	require.NoError(t, err)
	require.NoError(t, seal.WriteRecoveryFile(recoveryPath(d), rk, root, nil))
	st, err := store.Open(dbPath(d), root.Bytes(), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Users().Create(store.User{Username: "alice"})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, writeBackup(&b, st, d, time.Unix(1_800_000_000, 0)))
	return b.Bytes(), rk, root
}

func TestBackupHeaderRoundTrip(t *testing.T) {
	file, rk, root := backupFixture(t)
	r := bytes.NewReader(file)
	h, err := readBackupHeader(r)
	require.NoError(t, err)
	require.Equal(t, int64(1_800_000_000), h.created.Unix())
	got, err := seal.UnwrapRecoveryData(h.recovery, rk)
	require.NoError(t, err)
	require.True(t, got.Equal(root))
	require.NoError(t, store.CheckBackupTag(root.Bytes(), h.raw, h.tag))
	require.NoError(t, store.Restore(r, filepath.Join(t.TempDir(), "db"), root.Bytes()))
}

// Every byte of the header is covered: a flip anywhere in it is refused
// as a bad format, a wrong key or a bad tag, never accepted.
func TestBackupHeaderFlipEveryByte(t *testing.T) {
	file, rk, root := backupFixture(t)
	h, err := readBackupHeader(bytes.NewReader(file))
	require.NoError(t, err)
	n := len(h.raw) + len(h.tag)
	for i := range n {
		bad := bytes.Clone(file[:n])
		bad[i] ^= 0x20
		h, err := readBackupHeader(bytes.NewReader(bad))
		if err != nil {
			require.ErrorIs(t, err, ErrBackupFormat, "byte %d", i)
			continue
		}
		got, err := seal.UnwrapRecoveryData(h.recovery, rk)
		if err != nil {
			require.True(t, errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrWrongRecoveryKey), "byte %d: %v", i, err)
			continue
		}
		require.True(t, got.Equal(root))
		require.ErrorIs(t, store.CheckBackupTag(root.Bytes(), h.raw, h.tag), store.ErrBadBackup, "byte %d accepted", i)
	}
}

// A recovery block from another install, with its own valid key, does
// not pass the tag of this backup's store.
func TestBackupHeaderSwappedRecovery(t *testing.T) {
	file, _, _ := backupFixture(t)
	other, rk2, root2 := backupFixture(t)
	h, err := readBackupHeader(bytes.NewReader(file))
	require.NoError(t, err)
	h2, err := readBackupHeader(bytes.NewReader(other))
	require.NoError(t, err)
	raw := append(bytes.Clone(h.raw[:backupFixedLen]), h2.recovery...)
	got, err := seal.UnwrapRecoveryData(h2.recovery, rk2)
	require.NoError(t, err)
	require.True(t, got.Equal(root2))
	require.ErrorIs(t, store.CheckBackupTag(root2.Bytes(), raw, h.tag), store.ErrBadBackup)
}

func FuzzReadBackupHeader(f *testing.F) {
	file, _, _ := backupFixture(&testing.T{})
	f.Add(file[:min(len(file), 400)])
	f.Add([]byte(backupMagic))
	f.Add(append([]byte(backupMagic), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readBackupHeader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBackupFormat) {
				t.Fatalf("error does not wrap ErrBackupFormat: %v", err)
			}
			return
		}
		if len(h.recovery) == 0 || len(h.recovery) > maxRecoveryData || len(h.tag) != store.BackupTagSize ||
			!bytes.Equal(h.raw, b[:len(h.raw)]) || !bytes.Equal(h.tag, b[len(h.raw):len(h.raw)+store.BackupTagSize]) {
			t.Fatalf("header framed wrongly")
		}
		re, err := encodeBackupHeader(h.created, h.recovery)
		if err != nil || !bytes.Equal(re, h.raw) {
			t.Fatalf("header does not re-encode to its bytes")
		}
	})
}

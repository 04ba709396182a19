package backupfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// backupFixture is a data dir with root.recovery and a store with a user,
// and a backup file of it.
func backupFixture(t *testing.T) (file []byte, rk seal.RecoveryKey, root seal.RootKey) {
	t.Helper()
	files, rk, root := backupsOf(t, "alice")
	return files[0], rk, root
}

// backupsOf makes a data dir with root.recovery and a store, and for each
// username creates that user and then takes a backup, each 12 minutes
// after the one before.
func backupsOf(t *testing.T, usernames ...string) (files [][]byte, rk seal.RecoveryKey, root seal.RootKey) {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.Mkdir(datadir.SealDir(d), 0o700))
	root, err := seal.NewRootKey(nil)
	require.NoError(t, err)
	rk, err = seal.NewRecoveryKey(nil)
	require.NoError(t, err)
	require.NoError(t, seal.WriteRecoveryFile(datadir.RecoveryPath(d), rk, root, nil))
	st, err := store.Open(datadir.DBPath(d), root.Bytes(), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	for i, u := range usernames {
		_, err = st.Users().Create(store.User{Username: u})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, Write(&b, st, d, time.Unix(1_800_000_000+int64(i)*720, 0)))
		files = append(files, b.Bytes())
	}
	return files, rk, root
}

func TestBackupHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	file, rk, root := backupFixture(t)
	r := bytes.NewReader(file)
	h, err := Read(r)
	require.NoError(t, err)
	require.Equal(t, int64(1_800_000_000), h.Created.Unix())
	got, err := seal.UnwrapRecoveryData(h.Recovery, rk)
	require.NoError(t, err)
	require.True(t, got.Equal(root))
	require.NoError(t, store.CheckBackupTag(root.Bytes(), h.Raw, h.Tag))
	require.NoError(t, store.RestoreBound(r, filepath.Join(t.TempDir(), "db"), root.Bytes(), h.StreamBinding()))
	require.ErrorIs(t, store.Restore(bytes.NewReader(file[len(h.Raw)+len(h.Tag):]), filepath.Join(t.TempDir(), "db"), root.Bytes()), store.ErrBadBackup, "a bound stream does not open unbound")
}

// Every byte of the header is covered: a flip anywhere in it is refused
// as a bad format, a wrong key or a bad tag, never accepted.
func TestBackupHeaderFlipEveryByte(t *testing.T) {
	t.Parallel()
	file, rk, root := backupFixture(t)
	h, err := Read(bytes.NewReader(file))
	require.NoError(t, err)
	n := len(h.Raw) + len(h.Tag)
	for i := range n {
		bad := bytes.Clone(file[:n])
		bad[i] ^= 0x20
		h, err := Read(bytes.NewReader(bad))
		if err != nil {
			require.ErrorIs(t, err, ErrFormat, "byte %d", i)
			continue
		}
		got, err := seal.UnwrapRecoveryData(h.Recovery, rk)
		if err != nil {
			require.True(t, errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrWrongRecoveryKey), "byte %d: %v", i, err)
			continue
		}
		require.True(t, got.Equal(root))
		require.ErrorIs(t, store.CheckBackupTag(root.Bytes(), h.Raw, h.Tag), store.ErrBadBackup, "byte %d accepted", i)
	}
}

// A recovery block from another install, with its own valid key, does
// not pass the tag of this backup's store.
func TestBackupHeaderSwappedRecovery(t *testing.T) {
	t.Parallel()
	file, _, _ := backupFixture(t)
	other, rk2, root2 := backupFixture(t)
	h, err := Read(bytes.NewReader(file))
	require.NoError(t, err)
	h2, err := Read(bytes.NewReader(other))
	require.NoError(t, err)
	raw := append(bytes.Clone(h.Raw[:backupFixedLen]), h2.Recovery...)
	got, err := seal.UnwrapRecoveryData(h2.Recovery, rk2)
	require.NoError(t, err)
	require.True(t, got.Equal(root2))
	require.ErrorIs(t, store.CheckBackupTag(root2.Bytes(), raw, h.Tag), store.ErrBadBackup)
}

func FuzzReadBackupHeader(f *testing.F) {
	file, _, _ := backupFixture(&testing.T{})
	f.Add(file[:min(len(file), 400)])
	f.Add([]byte(backupMagic))
	f.Add(append([]byte(backupMagic), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff))
	f.Add(append([]byte(backupMagic), 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Read(bytes.NewReader(b))
		if err != nil {
			require.ErrorIs(t, err, ErrFormat, "error does not wrap ErrFormat: %v", err)
			return
		}
		if len(h.Recovery) == 0 || len(h.Recovery) > maxRecoveryData || len(h.Tag) != store.BackupTagSize ||
			!bytes.Equal(h.Raw, b[:len(h.Raw)]) || !bytes.Equal(h.Tag, b[len(h.Raw):len(h.Raw)+store.BackupTagSize]) {
			require.Fail(t, fmt.Sprintf("header framed wrongly"))
		}
		re, err := encode(h.Created, h.Recovery, h.Raw[backupFixedLen+len(h.Recovery):])
		require.False(t, err != nil || !bytes.Equal(re, h.Raw), "header does not re-encode to its bytes")
	})
}

// twoBackups returns two backups of one store, the second taken after
// a further write, and the store's root key.
func twoBackups(t *testing.T) (early, late []byte, root seal.RootKey) {
	t.Helper()
	files, _, root := backupsOf(t, "alice", "bob")
	return files[0], files[1], root
}

// splitBackup returns a backup's header (with its tag) and its stream.
func splitBackup(t *testing.T, file []byte) (hdr, stream []byte) {
	t.Helper()
	h, err := Read(bytes.NewReader(file))
	require.NoError(t, err)
	n := len(h.Raw) + len(h.Tag)
	return file[:n], file[n:]
}

// A version-2 header opens only its own stream: a later header on an
// earlier stream, or an earlier one on a later stream, is refused before
// restore writes anything (CheckBackupStart), and again by the stream
// reader itself. The unswapped files pass both.
func TestBackupHeaderBoundToStream(t *testing.T) {
	t.Parallel()
	early, late, root := twoBackups(t)
	eh, es := splitBackup(t, early)
	lh, ls := splitBackup(t, late)
	for _, tc := range []struct {
		name   string
		file   []byte
		wantOK bool
	}{
		{"early as written", early, true},
		{"late as written", late, true},
		{"late header on early stream", append(bytes.Clone(lh), es...), false},
		{"early header on late stream", append(bytes.Clone(eh), ls...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(bytes.NewReader(tc.file), store.BackupPeekSize)
			h, err := Read(br)
			require.NoError(t, err)
			require.Equal(t, version2, h.Version)
			require.NoError(t, store.CheckBackupTag(root.Bytes(), h.Raw, h.Tag), "each header is genuine on its own")
			err = store.CheckBackupStart(br, root.Bytes(), h.StreamBinding())
			db := filepath.Join(t.TempDir(), "db")
			rerr := store.RestoreBound(br, db, root.Bytes(), h.StreamBinding())
			if tc.wantOK {
				require.NoError(t, err)
				require.NoError(t, rerr)
				return
			}
			require.ErrorIs(t, err, store.ErrBadBackup)
			require.ErrorIs(t, rerr, store.ErrBadBackup)
			_, serr := os.Stat(db)
			require.ErrorIs(t, serr, os.ErrNotExist)
		})
	}
}

// A version-1 header (no binding) with a bound stream is refused: a
// header cannot be downgraded to escape the binding (its tag covers the
// version byte, and the stream reader refuses a bound stream unbound).
func TestBackupV1HeaderOnBoundStreamRefused(t *testing.T) {
	t.Parallel()
	early, _, root := twoBackups(t)
	eh, es := splitBackup(t, early)
	h, err := Read(bytes.NewReader(eh))
	require.NoError(t, err)
	v1, err := encode(h.Created, h.Recovery, nil)
	require.NoError(t, err)
	tag, err := store.BackupTagFor(root.Bytes(), v1)
	require.NoError(t, err)
	br := bufio.NewReaderSize(bytes.NewReader(append(append(v1, tag...), es...)), store.BackupPeekSize)
	h1, err := Read(br)
	require.NoError(t, err)
	require.Equal(t, V1, h1.Version)
	require.ErrorIs(t, store.CheckBackupStart(br, root.Bytes(), h1.StreamBinding()), store.ErrBadBackup)
}

package datadir

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// The layout every command and the backup format agree on: the sealed
// key and the recovery file under seal/, the store in db/, the markers at
// the top.
func TestLayout(t *testing.T) {
	t.Parallel()
	d := "/var/lib/accessd"
	for got, want := range map[string]string{
		SealDir(d):         "/var/lib/accessd/seal",
		SealedPath(d):      "/var/lib/accessd/seal/root.sealed",
		RecoveryPath(d):    "/var/lib/accessd/seal/root.recovery",
		DBPath(d):          "/var/lib/accessd/db",
		swtpmDir(d):        "/var/lib/accessd/seal/swtpm",
		InitPendingPath(d): "/var/lib/accessd/init.pending",
		RestoreMarkPath(d): "/var/lib/accessd/.restore-unfinished",
	} {
		assert.Equal(t, want, got)
	}
}

// Initialised says yes for any one of the sealed key, the recovery file
// or the store, even a dangling link in its place, and yes with the error
// when it cannot tell: init must not write over data it could not see.
func TestInitialised(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	ok, err := Initialised(empty)
	require.NoError(t, err)
	require.False(t, ok, "an empty data dir")
	ok, err = Initialised(filepath.Join(empty, "missing"))
	require.NoError(t, err)
	require.False(t, ok, "a data dir that does not exist yet")

	for name, create := range map[string]func(d string) error{
		"sealed key": func(d string) error {
			require.NoError(t, os.Mkdir(SealDir(d), 0o700))
			return os.WriteFile(SealedPath(d), []byte("x"), 0o600)
		},
		"recovery file": func(d string) error {
			require.NoError(t, os.Mkdir(SealDir(d), 0o700))
			return os.WriteFile(RecoveryPath(d), []byte("x"), 0o600)
		},
		"store":                  func(d string) error { return os.Mkdir(DBPath(d), 0o700) },
		"dangling link as store": func(d string) error { return os.Symlink(filepath.Join(d, "gone"), DBPath(d)) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := t.TempDir()
			require.NoError(t, create(d))
			ok, err := Initialised(d)
			require.NoError(t, err)
			require.True(t, ok)
		})
	}

	ok, err = Initialised(notADir(t))
	require.Error(t, err)
	require.NotErrorIs(t, err, fs.ErrNotExist)
	require.True(t, ok, "what it cannot inspect counts as initialised")
}

// notADir is a regular file where a data dir should be: a path under it
// fails with ENOTDIR, not "does not exist" (a mode would not stop root,
// which the tests may run as).
func notADir(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	return file
}

// InitPending follows the marker; serve's refusal names the data dir and
// exits as "not initialised".
func TestInitPending(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	pending, err := InitPending(d)
	require.NoError(t, err)
	require.False(t, pending)
	require.NoError(t, os.WriteFile(InitPendingPath(d), nil, 0o600))
	pending, err = InitPending(d)
	require.NoError(t, err)
	require.True(t, pending)

	pending, err = InitPending(notADir(t))
	require.Error(t, err)
	require.True(t, pending, "what it cannot inspect counts as pending")

	err = ErrInitPending(d)
	require.ErrorIs(t, err, ErrNotInitialised)
	require.Contains(t, err.Error(), "the init of "+d+" did not finish")
	require.Contains(t, err.Error(), "run `accessd init` again")
}

// Lock with create makes a missing data dir 0700 and tightens an existing
// one to 0700; without create a missing one is fs.ErrNotExist. The lock
// file is 0600.
func TestLockMakesThePrivateDir(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "data")
	_, err := Lock(missing, false)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoDirExists(t, missing, "without create nothing is made")

	d, err := Lock(missing, true)
	require.NoError(t, err)
	defer d.Release()
	require.Equal(t, missing, d.Path())
	requireMode(t, missing, 0o700)
	requireMode(t, filepath.Join(missing, ".lock"), 0o600)

	open := filepath.Join(t.TempDir(), "open")
	require.NoError(t, os.Mkdir(open, 0o755))
	d2, err := Lock(open, true)
	require.NoError(t, err)
	defer d2.Release()
	requireMode(t, open, 0o700)
}

func requireMode(t *testing.T, p string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, want, fi.Mode().Perm(), "%s", p)
}

// A second command on a locked data dir is refused with accessd's own
// message, until the first releases it. The lock is on the open file, so
// two locks in one process exclude each other as two processes do.
func TestLockExcludes(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	first, err := Lock(path, false)
	require.NoError(t, err)
	_, err = Lock(path, false)
	require.ErrorContains(t, err, path+" is in use by another accessd")
	require.ErrorContains(t, err, "systemctl stop accessd")
	_, err = LockAny(path, true)
	require.ErrorContains(t, err, "is in use by another accessd", "restore waits for the lock like everyone else")

	first.Release()
	first.Release() // twice is harmless
	second, err := Lock(path, false)
	require.NoError(t, err, "a released lock is free")
	second.Release()
}

// Undo removes all of a data dir this run made; in one that existed, only
// what this run created (the lock file, tracked paths), newest first, and
// nothing that was there before.
func TestUndo(t *testing.T) {
	t.Parallel()
	t.Run("fresh data dir", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "data")
		d, err := Lock(path, true)
		require.NoError(t, err)
		require.NoError(t, os.Mkdir(SealDir(path), 0o700))
		d.Undo()
		require.NoDirExists(t, path)
		again, err := Lock(path, true)
		require.NoError(t, err, "and the lock is dropped")
		again.Release()
	})
	t.Run("existing data dir", func(t *testing.T) {
		t.Parallel()
		path := t.TempDir()
		keep := filepath.Join(path, "keep")
		require.NoError(t, os.WriteFile(keep, []byte("x"), 0o600))
		d, err := Lock(path, true)
		require.NoError(t, err)
		// Tracked in the order made: the directory, then a file in it;
		// removing newest first leaves neither.
		require.NoError(t, os.Mkdir(SealDir(path), 0o700))
		d.Track(SealDir(path))
		require.NoError(t, os.WriteFile(SealedPath(path), []byte("x"), 0o600))
		d.Track(SealedPath(path))
		d.Undo()
		require.NoDirExists(t, SealDir(path))
		require.NoFileExists(t, filepath.Join(path, ".lock"), "the lock file this run created goes too")
		require.FileExists(t, keep)
		again, err := Lock(path, false)
		require.NoError(t, err, "and the lock is dropped")
		again.Release()
	})
	t.Run("lock file there before", func(t *testing.T) {
		t.Parallel()
		path := t.TempDir()
		first, err := Lock(path, false)
		require.NoError(t, err)
		first.Release()
		d, err := Lock(path, false)
		require.NoError(t, err)
		d.Undo()
		require.FileExists(t, filepath.Join(path, ".lock"), "a lock file an earlier run made stays")
	})
}

// Lock refuses a data dir with an unfinished restore after taking the
// lock and drops the lock again; LockAny, restore's, takes it. A marker
// it cannot read, or whose name cannot be shown, still refuses, naming
// FILE for the backup.
func TestLockAndTheRestoreMarker(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	require.NoError(t, os.WriteFile(RestoreMarkPath(path), []byte("a.backup\n"), 0o600))
	_, err := Lock(path, false)
	require.ErrorIs(t, err, ErrRestoreUnfinished)
	d, err := LockAny(path, false)
	require.NoError(t, err, "the refusal released the lock, and restore takes the data dir over")
	d.Release()

	require.NoError(t, os.WriteFile(RestoreMarkPath(path), []byte("a`b.backup"), 0o600))
	err = RefuseUnfinishedRestore(path)
	require.ErrorIs(t, err, ErrRestoreUnfinished)
	require.Contains(t, err.Error(), "--backup FILE ", "a name that cannot be shown as typed is not shown")

	require.NoError(t, os.Remove(RestoreMarkPath(path)))
	require.NoError(t, os.Mkdir(RestoreMarkPath(path), 0o700))
	err = RefuseUnfinishedRestore(path)
	require.ErrorIs(t, err, ErrRestoreUnfinished, "an unreadable marker still refuses")
	require.Contains(t, err.Error(), "--backup FILE ")
}

// SyncDir is store.SyncDir: it fails on a directory that is not there;
// SyncDirEntries takes a missing one as nothing to sync.
func TestSyncDir(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	require.NoError(t, SyncDir(d))
	require.NoError(t, SyncDirEntries(d))
	missing := filepath.Join(d, "missing")
	require.ErrorIs(t, SyncDir(missing), fs.ErrNotExist)
	require.NoError(t, SyncDirEntries(missing))
}

// The simulator is refused outside --dev whatever the build; under --dev a
// data dir sealed to the in-process simulator is refused by a run that
// would use swtpm, with the way out named. Which TPM --dev uses follows
// the build and the data dir.
func TestOpenSealerRefusals(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	_, err := OpenSealer(d, "simulator", false)
	require.ErrorContains(t, err, `seal.device = "simulator" is for --dev only`)
	require.NoFileExists(t, filepath.Join(SealDir(d), "simulator.seed"), "refused before anything is made")

	if seal.SimulatorBuiltIn {
		require.NoError(t, DevTPMAvailable())
		require.False(t, useDevSwtpm(d), "a new dev data dir uses the simulator compiled in")
		require.NoError(t, os.MkdirAll(swtpmDir(d), 0o700))
		require.True(t, useDevSwtpm(d), "a dev data dir sealed to swtpm keeps using it")
	} else {
		require.True(t, useDevSwtpm(d))
		require.NoError(t, os.MkdirAll(SealDir(d), 0o700))
	}
	require.NoError(t, os.WriteFile(filepath.Join(SealDir(d), "simulator.seed"), []byte("x"), 0o600))
	_, err = OpenSealer(d, "simulator", true)
	require.ErrorContains(t, err, d+" was sealed to the in-process TPM simulator")
	require.ErrorContains(t, err, "move the dev data dir away to start over")
}

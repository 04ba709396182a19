package ceremony

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/internal/datadir"
)

// The marker makes every other command refuse the data dir, naming the
// restore command with the backup's name quoted for a shell; restore
// clears only a data dir that holds the marker.
func TestRestoreMark(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	require.NoError(t, datadir.RefuseUnfinishedRestore(d))
	require.NoError(t, os.WriteFile(filepath.Join(d, "keep"), []byte("x"), 0o600))
	cleared, err := clearUnfinishedRestore(d)
	require.NoError(t, err)
	require.False(t, cleared)
	require.FileExists(t, filepath.Join(d, "keep"), "a data dir without the marker is never cleared")

	for _, tc := range []struct{ name, want string }{
		{"/var/backups/a.backup", "--backup /var/backups/a.backup --recovery-key-file KEY"},
		{"/mnt/usb stick/it's.backup", `--backup '/mnt/usb stick/it'\''s.backup' --recovery-key-file KEY`},
		{"", "--backup FILE --recovery-key-file KEY"},
	} {
		require.NoError(t, writeRestoreMark(d, tc.name))
		err := datadir.RefuseUnfinishedRestore(d)
		require.ErrorIs(t, err, datadir.ErrRestoreUnfinished)
		require.ErrorIs(t, err, datadir.ErrNotInitialised, "exit 4")
		require.Contains(t, err.Error(), "accessd restore --data-dir "+d+" "+tc.want)
		_, err = datadir.Lock(d, false)
		require.ErrorIs(t, err, datadir.ErrRestoreUnfinished, "every command that locks the data dir refuses it")
		require.NoError(t, os.Remove(datadir.RestoreMarkPath(d)))
	}

	require.NoError(t, writeRestoreMark(d, "b.backup"))
	cleared, err = clearUnfinishedRestore(d)
	require.NoError(t, err)
	require.True(t, cleared)
	entries, err := os.ReadDir(d)
	require.NoError(t, err)
	for _, e := range entries {
		require.Equal(t, ".lock", e.Name(), "only the lock file is left")
	}
}

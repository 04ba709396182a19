package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

// TestUnbornVlogRemoved reproduces what a SIGKILL between Badger's
// creation of a value-log or memtable file and its header leaves behind
// (the crash test hits it now and then): without the repair the store
// does not open again.
func TestUnbornVlogRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, val := []byte("user/kept"), []byte("kept")
	e := openTest(t, dir)
	require.NoError(t, e.Retry(func(txn *badger.Txn) error { return txn.Set(key, val) }))
	require.NoError(t, e.Close(nil))
	for name, size := range map[string]int64{"000007.vlog": 0, "000008.vlog": 32 << 20, "000009.mem": 0, "000010.mem": 1 << 20} {
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, f.Truncate(size))
		f.Close()
	}
	e = openTest(t, dir) // fails the test when the store does not open after an unfinished log file
	var got []byte
	require.NoError(t, e.DB().View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		got, err = item.ValueCopy(nil)
		return err
	}), "data lost")
	require.True(t, bytes.Equal(val, got), "data changed: %q", got)
	_, err := os.Stat(filepath.Join(dir, "000001.vlog"))
	require.NoError(t, err, "a real value-log file was removed")
	for _, name := range []string{"000007.vlog", "000008.vlog", "000009.mem", "000010.mem"} {
		_, err = os.Stat(filepath.Join(dir, name))
		require.ErrorIs(t, err, os.ErrNotExist, "%s: an unborn log file was kept", name)
	}
}

package store

import (
	"crypto/rand"
	"github.com/stretchr/testify/require"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestUnbornVlogRemoved reproduces what a SIGKILL between Badger's
// creation of a value-log or memtable file and its header leaves behind
// (the crash test hits it now and then): without the repair the store
// does not open again.
func TestUnbornVlogRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := make([]byte, RootKeySize)
	_, _ = rand.Read(key)
	st, err := Open(dir, key, Options{})
	require.NoError(t, err)
	u, err := st.Users().Create(User{Username: "kept"})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	for name, size := range map[string]int64{"000007.vlog": 0, "000008.vlog": 32 << 20, "000009.mem": 0, "000010.mem": 1 << 20} {
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, f.Truncate(size))
		f.Close()
	}
	st, err = Open(dir, key, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err, "store does not open after an unfinished value-log file")
	defer st.Close()
	_, err = st.Users().Get(u.ID)
	require.NoError(t, err, "data lost")
	_, err = os.Stat(filepath.Join(dir, "000001.vlog"))
	require.NoError(t, err, "a real value-log file was removed")
	for _, name := range []string{"000007.vlog", "000008.vlog", "000009.mem", "000010.mem"} {
		_, err = os.Stat(filepath.Join(dir, name))
		require.ErrorIs(t, err, os.ErrNotExist, "%s: an unborn log file was kept", name)
	}
}

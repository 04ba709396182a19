package store

import (
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestUnbornVlogRemoved reproduces what a SIGKILL between Badger's
// creation of a value-log file and its header leaves behind (the crash
// test hits it now and then): without the repair the store does not
// open again.
func TestUnbornVlogRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := make([]byte, RootKeySize)
	_, _ = rand.Read(key)
	st, err := Open(dir, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.Users().Create(User{Username: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int64{"000007.vlog": 0, "000008.vlog": 32 << 20} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	st, err = Open(dir, key, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("store does not open after an unfinished value-log file: %v", err)
	}
	defer st.Close()
	if _, err := st.Users().Get(u.ID); err != nil {
		t.Fatalf("data lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "000001.vlog")); err != nil {
		t.Fatalf("a real value-log file was removed: %v", err)
	}
}

package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/accessd/accessd/store"
)

// Paths inside the data dir.

// SealDir holds the sealed root key and the recovery file.
func SealDir(data string) string { return filepath.Join(data, "seal") }

// SealedPath is the root key sealed to the TPM.
func SealedPath(data string) string { return filepath.Join(data, "seal", "root.sealed") }

// RecoveryPath is the root key wrapped by the recovery key.
func RecoveryPath(data string) string { return filepath.Join(data, "seal", "root.recovery") }

// DBPath is the store.
func DBPath(data string) string { return filepath.Join(data, "db") }

func swtpmDir(data string) string { return filepath.Join(data, "seal", "swtpm") }

// Initialised reports whether dataDir holds a sealed root key, a recovery
// file or a store. When it cannot tell (a permission error, say) it says
// yes, with the error: init must never guess its way over existing data.
func Initialised(dataDir string) (bool, error) {
	for _, p := range []string{SealedPath(dataDir), RecoveryPath(dataDir), DBPath(dataDir)} {
		_, err := os.Lstat(p)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return true, fmt.Errorf("daemon: inspect %s: %w", p, err)
		}
	}
	return false, nil
}

// SyncDir makes the entries created, renamed or removed in dir durable
// (store.SyncDir).
func SyncDir(dir string) error { return store.SyncDir(dir) }

// SyncDirEntries is SyncDir for a directory that may not exist: one that
// does not has nothing to sync.
func SyncDirEntries(p string) error {
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return SyncDir(p)
}

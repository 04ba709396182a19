package ceremony

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/accessd/accessd/daemon/internal/datadir"
)

// writeRestoreMark creates the marker, durably, naming backup.
func writeRestoreMark(dataDir, backup string) error {
	f, err := os.OpenFile(datadir.RestoreMarkPath(dataDir), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("daemon: restore: mark the data dir: %w", err)
	}
	_, err = f.WriteString(backup + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = datadir.SyncDir(dataDir)
	}
	if err != nil {
		return fmt.Errorf("daemon: restore: mark the data dir: %w", err)
	}
	return nil
}

// removeRestoreMark ends the restore: the data dir is a complete one.
func removeRestoreMark(dataDir string) error {
	if err := os.Remove(datadir.RestoreMarkPath(dataDir)); err != nil {
		return fmt.Errorf("daemon: restore: finish: %w", err)
	}
	if err := datadir.SyncDir(dataDir); err != nil {
		return fmt.Errorf("daemon: restore: finish: %w", err)
	}
	return nil
}

// clearUnfinishedRestore empties a data dir that holds the restore
// marker (all of it restore's own work), keeping the lock file, so that
// restore can start over. A data dir without the marker is left alone.
func clearUnfinishedRestore(dataDir string) (bool, error) {
	if _, err := os.Lstat(datadir.RestoreMarkPath(dataDir)); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("daemon: inspect %s: %w", datadir.RestoreMarkPath(dataDir), err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return false, fmt.Errorf("daemon: inspect data dir %s: %w", dataDir, err)
	}
	// The marker goes last: a crash in here leaves it, and the next run
	// clears again.
	for _, e := range entries {
		if e.Name() == ".lock" || e.Name() == datadir.RestoreMarkName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			return false, fmt.Errorf("daemon: clear the unfinished restore in %s: %w", dataDir, err)
		}
	}
	if err := os.Remove(datadir.RestoreMarkPath(dataDir)); err != nil {
		return false, fmt.Errorf("daemon: clear the unfinished restore in %s: %w", dataDir, err)
	}
	return true, datadir.SyncDir(dataDir)
}

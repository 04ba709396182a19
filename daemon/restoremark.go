package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// restoreMarkName is the file `accessd restore` writes into the data dir
// before anything else and removes only once the restore is complete:
// sealed key, root.recovery, store, rollback counter bound and the
// store.restored entry chained. While it exists the data dir is an
// unfinished restore: every other command refuses it (a store that is
// complete but unbound would otherwise start as a rollback, and an
// `accessd recover --accept-rollback` would bind it without the restore's
// audit entry), and restore starts over in it. It holds the backup's
// file name, so the refusal can name the exact command; nothing secret.
const restoreMarkName = ".restore-unfinished"

func restoreMarkPath(dataDir string) string { return filepath.Join(dataDir, restoreMarkName) }

// ErrRestoreUnfinished says the data dir holds an interrupted restore. It
// wraps ErrNotInitialised: there is no service to start yet.
var ErrRestoreUnfinished = fmt.Errorf("%w: an earlier accessd restore into it did not finish", ErrNotInitialised)

// refuseUnfinishedRestore returns ErrRestoreUnfinished, naming the command
// that finishes the job, when dataDir holds the restore marker.
func refuseUnfinishedRestore(dataDir string) error {
	b, err := os.ReadFile(restoreMarkPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	backup := "FILE"
	if name := strings.TrimSuffix(string(b), "\n"); err == nil && name != "" && strconv.CanBackquote(name) {
		backup = name
		if strings.ContainsAny(name, " \t'\"\\$`;&|<>()*?[]{}~#") {
			backup = "'" + strings.ReplaceAll(name, "'", `'\''`) + "'"
		}
	}
	return fmt.Errorf("%w (%s exists); run `accessd restore --data-dir %s --backup %s --recovery-key-file KEY` again: it starts over in this data dir and records the restore. Nothing else may use the data dir until then",
		ErrRestoreUnfinished, restoreMarkPath(dataDir), dataDir, backup)
}

// writeRestoreMark creates the marker, durably, naming backup.
func writeRestoreMark(dataDir, backup string) error {
	f, err := os.OpenFile(restoreMarkPath(dataDir), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
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
		err = syncDir(dataDir)
	}
	if err != nil {
		return fmt.Errorf("daemon: restore: mark the data dir: %w", err)
	}
	return nil
}

// removeRestoreMark ends the restore: the data dir is a complete one.
func removeRestoreMark(dataDir string) error {
	if err := os.Remove(restoreMarkPath(dataDir)); err != nil {
		return fmt.Errorf("daemon: restore: finish: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("daemon: restore: finish: %w", err)
	}
	return nil
}

// clearUnfinishedRestore empties a data dir that holds the restore
// marker (all of it restore's own work), keeping the lock file, so that
// restore can start over. A data dir without the marker is left alone.
func clearUnfinishedRestore(dataDir string) (bool, error) {
	if _, err := os.Lstat(restoreMarkPath(dataDir)); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("daemon: inspect %s: %w", restoreMarkPath(dataDir), err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return false, fmt.Errorf("daemon: inspect data dir %s: %w", dataDir, err)
	}
	// The marker goes last: a crash in here leaves it, and the next run
	// clears again.
	for _, e := range entries {
		if e.Name() == ".lock" || e.Name() == restoreMarkName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			return false, fmt.Errorf("daemon: clear the unfinished restore in %s: %w", dataDir, err)
		}
	}
	if err := os.Remove(restoreMarkPath(dataDir)); err != nil {
		return false, fmt.Errorf("daemon: clear the unfinished restore in %s: %w", dataDir, err)
	}
	return true, syncDir(dataDir)
}

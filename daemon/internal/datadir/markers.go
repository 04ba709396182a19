package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotInitialised says the data dir has no store to serve: init has not
// run or did not finish, a restore did not finish, or the store was lost
// and must be restored. accessd exits 4.
var ErrNotInitialised = errors.New("daemon: data dir not initialised")

// InitPendingPath is the marker of an init under way: init writes it
// before anything else and removes it after it has shown the recovery
// key and the admin's password (see the ceremony package), and serve
// refuses a data dir that holds it.
func InitPendingPath(dataDir string) string { return filepath.Join(dataDir, "init.pending") }

// InitPending reports whether an init of dataDir started and did not
// finish. When it cannot tell it says yes, with the error.
func InitPending(dataDir string) (bool, error) {
	_, err := os.Lstat(InitPendingPath(dataDir))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return true, fmt.Errorf("daemon: inspect %s: %w", InitPendingPath(dataDir), err)
}

// ErrInitPending is serve's refusal of a data dir whose init did not finish.
func ErrInitPending(dataDir string) error {
	return fmt.Errorf("%w: the init of %s did not finish (it stopped before it showed the recovery key, so nobody holds it); run `accessd init` again: it starts that data dir over", ErrNotInitialised, dataDir)
}

// RestoreMarkName is the file `accessd restore` writes into the data dir
// before anything else and removes only once the restore is complete:
// sealed key, root.recovery, store, rollback counter bound and the
// store.restored entry chained. While it exists the data dir is an
// unfinished restore: every other command refuses it (a store that is
// complete but unbound would otherwise start as a rollback, and an
// `accessd recover --accept-rollback` would bind it without the restore's
// audit entry), and restore starts over in it. It holds the backup's
// file name, so the refusal can name the exact command; nothing secret.
const RestoreMarkName = ".restore-unfinished"

// RestoreMarkPath is RestoreMarkName in dataDir.
func RestoreMarkPath(dataDir string) string { return filepath.Join(dataDir, RestoreMarkName) }

// ErrRestoreUnfinished says the data dir holds an interrupted restore. It
// wraps ErrNotInitialised: there is no service to start yet.
var ErrRestoreUnfinished = fmt.Errorf("%w: an earlier accessd restore into it did not finish", ErrNotInitialised)

// RefuseUnfinishedRestore returns ErrRestoreUnfinished, naming the command
// that finishes the job, when dataDir holds the restore marker.
func RefuseUnfinishedRestore(dataDir string) error {
	b, err := os.ReadFile(RestoreMarkPath(dataDir))
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
		ErrRestoreUnfinished, RestoreMarkPath(dataDir), dataDir, backup)
}

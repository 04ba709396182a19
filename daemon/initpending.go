package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// # An init that did not finish
//
// init writes <data>/init.pending, durably, before anything else, and
// removes it only after it has shown the recovery key and the admin's
// password. A data dir that holds it is one whose init was killed (or
// lost power) part-way: its root key may be sealed and its store seeded,
// but nobody holds its recovery key or admin password. serve refuses it,
// naming `accessd init`, and init starts such a data dir over instead of
// refusing it as initialised. Nothing init writes holds a secret in
// clear, so what it leaves behind is removed, not scrubbed.

// initPendingPath is the marker of an init under way.
func initPendingPath(dataDir string) string { return filepath.Join(dataDir, "init.pending") }

// initPending reports whether an init of dataDir started and did not
// finish. When it cannot tell it says yes, with the error.
func initPending(dataDir string) (bool, error) {
	_, err := os.Lstat(initPendingPath(dataDir))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return true, fmt.Errorf("daemon: inspect %s: %w", initPendingPath(dataDir), err)
}

// errInitPending is serve's refusal of a data dir whose init did not finish.
func errInitPending(dataDir string) error {
	return fmt.Errorf("%w: the init of %s did not finish (it stopped before it showed the recovery key, so nobody holds it); run `accessd init` again: it starts that data dir over", ErrNotInitialised, dataDir)
}

// markInitPending writes the marker and makes it durable (file and
// directory entry) before init creates anything else.
func markInitPending(dir *dataDir) error {
	p := initPendingPath(dir.path)
	dir.track(p)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("daemon: mark init under way: %w", err)
	}
	_, err = f.WriteString("accessd init is under way or was interrupted; run `accessd init` again to start over\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDirEntries(dir.path)
	}
	if err != nil {
		return fmt.Errorf("daemon: mark init under way: %w", err)
	}
	return nil
}

// finishInit removes the marker, durably: from now on the data dir is
// initialised.
func finishInit(dataDir string) error {
	if err := os.Remove(initPendingPath(dataDir)); err != nil {
		return fmt.Errorf("daemon: mark init done: %w", err)
	}
	if err := syncDirEntries(dataDir); err != nil {
		return fmt.Errorf("daemon: mark init done: %w", err)
	}
	return nil
}

// discardUnfinishedInit removes what an interrupted init left (the sealed
// key, the recovery file, the store), keeping the marker, so that init
// can start over.
func discardUnfinishedInit(dataDir string, log *slog.Logger) error {
	log.Warn("an earlier init of this data dir did not finish; starting it over",
		"event", "daemon.init_restarted", "data_dir", dataDir)
	for _, p := range []string{sealedPath(dataDir), recoveryPath(dataDir), dbPath(dataDir)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("daemon: remove what the interrupted init left: %w", err)
		}
	}
	return syncDirEntries(sealDir(dataDir))
}

// syncDirEntries fsyncs a directory, so that the entries created or removed in
// it survive a power cut. A directory that does not exist has nothing to
// sync.
func syncDirEntries(p string) error {
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return syncDir(p)
}

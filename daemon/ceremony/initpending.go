package ceremony

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/accessd/accessd/daemon/internal/datadir"
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

// markInitPending writes the marker and makes it durable (file and
// directory entry) before init creates anything else.
func markInitPending(dir *datadir.Dir) error {
	p := datadir.InitPendingPath(dir.Path())
	dir.Track(p)
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
		err = datadir.SyncDirEntries(dir.Path())
	}
	if err != nil {
		return fmt.Errorf("daemon: mark init under way: %w", err)
	}
	return nil
}

// finishInit removes the marker, durably: from now on the data dir is
// initialised.
func finishInit(dataDir string) error {
	if err := os.Remove(datadir.InitPendingPath(dataDir)); err != nil {
		return fmt.Errorf("daemon: mark init done: %w", err)
	}
	if err := datadir.SyncDirEntries(dataDir); err != nil {
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
	for _, p := range []string{datadir.SealedPath(dataDir), datadir.RecoveryPath(dataDir), datadir.DBPath(dataDir)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("daemon: remove what the interrupted init left: %w", err)
		}
	}
	return datadir.SyncDirEntries(datadir.SealDir(dataDir))
}

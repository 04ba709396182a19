package ceremony

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/accessd/accessd/daemon/internal/backupfile"
	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/daemon/internal/rollback"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// RestoreOptions are restore's inputs besides the config.
type RestoreOptions struct {
	Dev bool
	// Backup is the file `accessctl backup` wrote.
	Backup io.Reader
	// BackupName is its path, named in the message should this restore
	// be interrupted; "" names it FILE.
	BackupName string
	// Secret is the recovery key, or its shares, as read from the
	// operator's files (see recoveryKeyFrom).
	Secret []byte
	// Out receives the summary.
	Out io.Writer
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrDataDirNotEmpty says restore was pointed at a data dir that holds
// files: restore builds a new data dir and never merges or overwrites.
var ErrDataDirNotEmpty = errors.New("daemon: restore builds a new data dir, and this one is not empty")

// Restore builds a new data dir on this host from a backup file and the
// recovery key alone: it unwraps the root key from the backup's recovery
// block, checks the backup's header under it, seals the key to this TPM
// with the config's PCRs, writes root.recovery (the same wrapped key, so
// the same recovery key goes on working), restores the store, checks
// its audit chain, binds it to this TPM's rollback counter and records
// the restore in it. Everything is checked
// that can be before anything is written, the header's binding to the
// store stream included (a version-1 backup has none, and restores with a
// warning); on any failure what it created is removed. The data dir must
// be absent or empty, or hold a restore that was interrupted (a marker
// file says so until the restore is complete): restore then starts over.
func Restore(cfg Config, opt RestoreOptions) (err error) {
	datadir.Harden(opt.Log)
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	// A data dir with the marker holds an interrupted restore, cleared
	// under the lock below; any other must be empty.
	if _, err := os.Lstat(datadir.RestoreMarkPath(cfg.DataDir)); err != nil {
		if err := requireEmptyDataDir(cfg.DataDir); err != nil {
			return err
		}
	}
	if opt.Dev {
		if err := datadir.DevTPMAvailable(); err != nil {
			return err
		}
	}
	br := bufio.NewReaderSize(opt.Backup, store.BackupPeekSize)
	h, err := backupfile.Read(br)
	if err != nil {
		return err
	}
	rk, err := recoveryKeyFrom(opt.Secret)
	if err != nil {
		return err
	}
	defer rk.Destroy()
	root, err := seal.UnwrapRecoveryData(h.Recovery, rk)
	if err != nil {
		if errors.Is(err, seal.ErrWrongRecoveryKey) {
			return fmt.Errorf("daemon: restore: %w (a backup needs the recovery key that was in effect when it was taken: after rekey-recovery, older backups still need the old key); nothing was written", err)
		}
		return fmt.Errorf("daemon: restore: %w; nothing was written", err)
	}
	defer root.Destroy()
	if err := store.CheckBackupTag(root.Bytes(), h.Raw, h.Tag); err != nil {
		return fmt.Errorf("daemon: restore: %w; nothing was written", err)
	}
	if err := store.CheckBackupStart(br, root.Bytes(), h.StreamBinding()); err != nil {
		return fmt.Errorf("daemon: restore: %w: the header (a backup taken %s) and the store data in this file do not belong together: parts of two backups were joined, or the data is damaged; nothing was written. Restore an unaltered file exactly as accessctl backup wrote it",
			err, h.Created.Format(time.RFC3339))
	}
	if h.Version == backupfile.V1 {
		opt.Log.Warn("this backup has format version 1, whose header is not bound to its store data: the time it states is not proven to be the time of the data in it. Restore it only from a copy you trust; backups taken by this accessd are bound",
			"event", "daemon.restore_unbound_header", "backup_created", h.Created.Format(time.RFC3339), "format_version", h.Version)
	}

	dir, err := datadir.LockAny(cfg.DataDir, true)
	if err != nil {
		return err
	}
	defer settle(dir, &err)
	// An interrupted restore is cleared (all of it was restore's own
	// work), then the data dir is checked again under the lock: only the
	// lock file may be there.
	if cleared, err := clearUnfinishedRestore(cfg.DataDir); err != nil {
		return err
	} else if cleared {
		opt.Log.Warn("an earlier restore into this data dir did not finish; starting over", "event", "daemon.restore_restarted", "data_dir", cfg.DataDir)
	}
	if err := requireEmptyDataDir(cfg.DataDir, ".lock"); err != nil {
		return err
	}
	name := opt.BackupName
	if name == "" {
		name = "FILE"
	}
	if err := writeRestoreMark(cfg.DataDir, name); err != nil {
		return err
	}
	dir.Track(datadir.RestoreMarkPath(cfg.DataDir))
	killAtStep("restore.marked")
	// Each path is tracked for undo only once this run created it, so a
	// failure never removes what was there before.
	if err := os.Mkdir(datadir.SealDir(cfg.DataDir), 0o700); err != nil {
		return fmt.Errorf("daemon: create seal dir: %w", err)
	}
	dir.Track(datadir.SealDir(cfg.DataDir))
	sealer, err := openSealer(cfg, opt.Dev)
	if err != nil {
		return err
	}
	defer sealer.Close()
	if err := seal.WriteSealedFile(datadir.SealedPath(cfg.DataDir), sealer, root, cfg.Seal.PCRs, now()); err != nil {
		return fmt.Errorf("daemon: seal root key: %w", err)
	}
	dir.Track(datadir.SealedPath(cfg.DataDir))
	killAtStep("restore.sealed")
	if err := seal.WriteRecoveryData(datadir.RecoveryPath(cfg.DataDir), h.Recovery, false); err != nil {
		return fmt.Errorf("daemon: restore: %w", err)
	}
	dir.Track(datadir.RecoveryPath(cfg.DataDir))
	killAtStep("restore.recovery")
	if err := store.RestoreBound(br, datadir.DBPath(cfg.DataDir), root.Bytes(), h.StreamBinding()); err != nil {
		return fmt.Errorf("daemon: restore: %w (is the file complete? compare its size with what accessctl backup reported)", err)
	}
	dir.Track(datadir.DBPath(cfg.DataDir))
	killAtStep("restore.store")
	res, err := recordRestore(cfg, opt.Dev, sealer, root, h, opt.Log, now)
	if err != nil {
		return err
	}
	if err := removeRestoreMark(cfg.DataDir); err != nil {
		return err
	}
	opt.Log.Warn("data dir restored from a backup", "event", "daemon.restored", "data_dir", cfg.DataDir,
		"backup_created", h.Created.Format(time.RFC3339), "seal", string(sealer.Kind()), "pcrs", cfg.Seal.PCRs, "audit_entries", res.Entries)
	fmt.Fprintf(opt.Out, "restored %s from a backup taken %s (sealed to %s", cfg.DataDir, h.Created.Format(time.RFC3339), sealer.Kind())
	if len(cfg.Seal.PCRs) > 0 {
		fmt.Fprintf(opt.Out, ", PCRs %v", cfg.Seal.PCRs)
	}
	fmt.Fprintf(opt.Out, ")\naudit chain verified: %d entries, head %s\n", res.Entries, hex.EncodeToString(res.Head))
	if _, pending, err := seal.SplitRecoveryData(h.Recovery); err == nil && pending != nil {
		fmt.Fprintf(opt.Out, "a rekey-recovery was pending when the backup was taken: root.recovery opens with the old and the new key until accessd rekey-recovery --finish --recovery-key-file NEW (or --abort --recovery-key-file OLD).\n")
	}
	fmt.Fprintf(opt.Out, "the recovery key that opened this backup is the recovery key of the new data dir.\n"+
		"changes made after the backup was taken are not in it. start accessd (systemctl start accessd).\n")
	return nil
}

// recordRestore opens the restored store, verifies its audit chain, binds
// it to this TPM's rollback counter (not under --dev) and records the
// restore in the same transaction.
func recordRestore(cfg Config, dev bool, counter rollback.Counter, root seal.RootKey, h *backupfile.Header, log *slog.Logger, now func() time.Time) (audit.Result, error) {
	q := audit.NewQueue()
	st, err := store.Open(datadir.DBPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log, Audit: q})
	if err != nil {
		return audit.Result{}, fmt.Errorf("daemon: open the restored store: %w", err)
	}
	defer st.Close()
	res, err := audit.Verify(st)
	if err != nil {
		return res, fmt.Errorf("daemon: verify the restored audit chain: %w", err)
	}
	if !res.OK {
		return res, fmt.Errorf("daemon: the restored audit chain is broken at entry %d (%s); the backup was made from a store whose log had been altered; nothing was kept", res.FirstBroken, res.Problem)
	}

	actor := "uid:" + strconv.Itoa(os.Getuid())
	e := store.AuditEntry{Time: now().UTC(), Type: "store.restored", Actor: actor, Source: "accessd restore",
		Target: "store", Result: "ok", Detail: map[string]string{
			"backup_created": h.Created.Format(time.RFC3339), "format_version": strconv.Itoa(h.Version), "entries_before": strconv.FormatUint(res.Entries, 10),
			"head_before": hex.EncodeToString(res.Head), "pcrs": fmt.Sprint(cfg.Seal.PCRs)}}
	if dev {
		// The simulator keeps no NV: rollback detection is off under --dev.
		err = st.Update(func(tx *store.Tx) error { return tx.Audit().Stage(e) })
	} else {
		// Bind the restored store to this TPM's rollback counter (it
		// recorded the old machine's), with the restore's entry in the
		// same transaction: the first serve then accepts it.
		_, err = rollback.Bind(st, counter, e)
	}
	if err != nil {
		return res, fmt.Errorf("daemon: record the restore: %w", err)
	}
	killAtStep("restore.bound")
	// Chain the staged entry now, so the restored log verifies with it.
	al, err := audit.Open(st, q, audit.Options{Emit: cfg.emit(log), Log: log})
	if err != nil {
		return res, fmt.Errorf("daemon: audit log: %w", err)
	}
	err = al.Sync()
	if cerr := al.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("daemon: record the restore in the audit log: %w", err)
	}
	killAtStep("restore.recorded")
	return audit.Verify(st)
}

// requireEmptyDataDir refuses a data dir that holds anything but the
// names in allow. A missing one is fine.
func requireEmptyDataDir(path string, allow ...string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("daemon: inspect data dir %s: %w", path, err)
	}
	for _, e := range entries {
		ok := false
		for _, a := range allow {
			ok = ok || e.Name() == a
		}
		if !ok {
			return fmt.Errorf("%w: %s holds %s; point --data-dir at a new directory, or move this one away first (nothing was changed)", ErrDataDirNotEmpty, path, filepath.Join(path, e.Name()))
		}
	}
	return nil
}

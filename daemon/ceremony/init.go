package ceremony

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/daemon/internal/rollback"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// InitOptions are init's inputs besides the config.
type InitOptions struct {
	Dev bool
	// Out receives the recovery key and the admin's password, once.
	Out io.Writer
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Split, when set, prints the recovery key as M-of-N shares.
	Split RecoveryShares
}

// ErrInitialised is returned by Init on a data dir that already holds a
// sealed key or a store: init never touches existing data.
var ErrInitialised = errors.New("daemon: data dir is already initialised; init refuses to touch an existing store (to start over, move the data dir away first)")

// Init creates the data dir, seals a new root key to the configured TPM,
// writes the recovery file, seeds the default groups and an admin user,
// and prints the recovery key and the admin's one-time password to
// opt.Out. If it fails half-way it removes what it created, so it can be
// run again.
func Init(cfg Config, opt InitOptions) (err error) {
	datadir.Harden(opt.Log)
	if err := opt.Split.Check(); err != nil {
		return err
	}
	if opt.Dev {
		if err := datadir.DevTPMAvailable(); err != nil {
			return err
		}
	}
	dir, err := datadir.Lock(cfg.DataDir, true)
	if err != nil {
		return err
	}
	defer settle(dir, &err)
	return InitLocked(cfg, opt, dir)
}

// settle ends a ceremony that made a data dir: on *err it removes what the
// ceremony made (dir.Undo), otherwise it releases the lock. Deferred with
// the ceremony's named error.
func settle(dir *datadir.Dir, err *error) {
	if *err != nil {
		dir.Undo()
	} else {
		dir.Release()
	}
}

// InitLocked is Init on a data dir whose lock the caller holds (serve's
// first --dev run). What it
// creates is recorded in dir, for the caller's undo on failure.
func InitLocked(cfg Config, opt InitOptions, dir *datadir.Dir) error {
	if cfg.Seed == nil {
		return errors.New("daemon: init: the config names no way to seed the store (Config.Seed)")
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	if pending, err := datadir.InitPending(cfg.DataDir); err != nil {
		return err
	} else if pending {
		if err := discardUnfinishedInit(cfg.DataDir, opt.Log); err != nil {
			return err
		}
	} else if done, err := datadir.Initialised(cfg.DataDir); err != nil {
		return err
	} else if done {
		return ErrInitialised
	}
	if err := markInitPending(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(datadir.SealDir(cfg.DataDir)); errors.Is(err, fs.ErrNotExist) {
		dir.Track(datadir.SealDir(cfg.DataDir))
	}
	if err := os.Mkdir(datadir.SealDir(cfg.DataDir), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("daemon: create seal dir: %w", err)
	}

	sealer, err := openSealer(cfg, opt.Dev)
	if err != nil {
		return err
	}
	defer sealer.Close()
	root, err := seal.NewRootKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: new root key: %w", err)
	}
	defer root.Destroy()
	dir.Track(datadir.SealedPath(cfg.DataDir))
	if err := seal.WriteSealedFile(datadir.SealedPath(cfg.DataDir), sealer, root, cfg.Seal.PCRs, now()); err != nil {
		return fmt.Errorf("daemon: seal root key: %w", err)
	}
	killAtStep("init.sealed")
	rk, err := seal.NewRecoveryKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: new recovery key: %w", err)
	}
	defer rk.Destroy()
	dir.Track(datadir.RecoveryPath(cfg.DataDir))
	if err := seal.WriteRecoveryFile(datadir.RecoveryPath(cfg.DataDir), rk, root, rand.Reader); err != nil {
		return fmt.Errorf("daemon: write recovery file: %w", err)
	}
	killAtStep("init.recovery")

	if err := os.Mkdir(datadir.DBPath(cfg.DataDir), 0o700); err != nil {
		return fmt.Errorf("daemon: create store dir: %w", err)
	}
	dir.Track(datadir.DBPath(cfg.DataDir))
	q := audit.NewQueue()
	st, err := store.Open(datadir.DBPath(cfg.DataDir), root.Bytes(), store.Options{Logger: opt.Log, Audit: q})
	if err != nil {
		return fmt.Errorf("daemon: create store: %w", err)
	}
	killAtStep("init.store")
	adminID, pw, err := cfg.Seed(st, q, opt.Log)
	if err == nil {
		killAtStep("init.seeded")
	}
	if err == nil && !opt.Dev {
		_, err = rollback.Bind(st, sealer, store.AuditEntry{Type: "seal.rollback_bind", Actor: "accessd", Source: "local",
			Detail: map[string]string{"reason": "init"}})
	}
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("daemon: close store: %w", cerr)
	}
	if err != nil {
		return err
	}
	defer clear(pw)
	killAtStep("init.bound")

	// Everything is on disk; only now show the secrets, so an operator never
	// writes down a key for an install that was then rolled back.
	opt.Log.Info("data dir initialised", "event", "daemon.init", "data_dir", cfg.DataDir,
		"seal", string(sealer.Kind()), "pcrs", cfg.Seal.PCRs, "admin_id", adminID)
	var b bytes.Buffer
	b.Grow(64 << 10) // room for all of it, shares too: no reallocation leaves a copy behind
	fmt.Fprintf(&b, "accessd initialised in %s (sealed to %s", cfg.DataDir, sealer.Kind())
	if len(cfg.Seal.PCRs) > 0 {
		fmt.Fprintf(&b, ", PCRs %v", cfg.Seal.PCRs)
	}
	b.WriteString(")\n\n")
	if err := appendRecoverySecret(&b, rk, opt.Split, "`accessd recover` needs it if the TPM is cleared or replaced, `accessd restore` to bring a backup back"); err != nil {
		clear(b.Bytes())
		return err
	}
	b.WriteString("\nAdmin user \"admin\", one-time password (shown once; change it after the first login):\n\n    ")
	b.Write(pw)
	b.WriteString("\n\n")
	_, err = opt.Out.Write(b.Bytes())
	clear(b.Bytes())
	if err != nil {
		// The data dir is complete but nobody saw its secrets: undo it.
		return fmt.Errorf("daemon: print the recovery key and admin password: %w (the data dir was removed; run init again)", err)
	}
	killAtStep("init.shown")
	return finishInit(cfg.DataDir)
}

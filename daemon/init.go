package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/identity"
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

// Initialised reports whether dataDir holds a sealed root key, a recovery
// file or a store. When it cannot tell (a permission error, say) it says
// yes, with the error: init must never guess its way over existing data.
func Initialised(dataDir string) (bool, error) {
	for _, p := range []string{sealedPath(dataDir), recoveryPath(dataDir), dbPath(dataDir)} {
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

// dataDir is a data dir this process holds the lock of, <data>/.lock,
// with a record of what this run created in it, so a failed init or first
// --dev run can remove exactly that and leave nothing behind.
type dataDir struct {
	path  string
	lock  *os.File
	fresh bool     // this run created the directory itself
	made  []string // created by this run, in order
}

// lockDataDir takes an exclusive lock on <data>/.lock, held for their whole
// run by every command that opens the data dir (serve, init, recover,
// reseal), before any TPM is touched: two of them never interleave on one
// data dir, and a second serve is refused with this message rather than
// with Badger's after an unseal. With create, a missing data dir is made
// (0700); without it, a missing one is an error wrapping fs.ErrNotExist.
//
// A data dir that holds an interrupted restore is refused (after the lock
// is taken, so the check does not race a running restore), naming the
// command that finishes it.
func lockDataDir(path string, create bool) (*dataDir, error) {
	d, err := lockDataDirAny(path, create)
	if err != nil {
		return nil, err
	}
	if err := refuseUnfinishedRestore(path); err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

// lockDataDirAny is lockDataDir for restore, which takes over an
// interrupted restore rather than refusing it.
func lockDataDirAny(path string, create bool) (*dataDir, error) {
	d := &dataDir{path: path}
	if create {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(path, 0o700); err != nil {
				return nil, fmt.Errorf("daemon: create data dir: %w", err)
			}
			d.fresh = true
		}
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, fmt.Errorf("daemon: data dir mode: %w", err)
		}
	}
	lockPath := filepath.Join(path, ".lock")
	if _, err := os.Lstat(lockPath); errors.Is(err, fs.ErrNotExist) {
		d.made = append(d.made, lockPath)
	}
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		d.removeDir()
		return nil, fmt.Errorf("daemon: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("daemon: %s is in use by another accessd (a running serve, or an init, recover or reseal holds %s); stop it first (systemctl stop accessd) or wait for it to finish", path, lockPath)
		}
		return nil, fmt.Errorf("daemon: lock data dir: %w", err)
	}
	d.lock = f
	return d, nil
}

// track records a path this run created, for undo.
func (d *dataDir) track(p string) { d.made = append(d.made, p) }

// release drops the lock and keeps everything.
func (d *dataDir) release() {
	if d.lock != nil {
		d.lock.Close() // closing drops the lock
		d.lock = nil
	}
}

// undo removes what this run created (all of the data dir if it made it),
// then drops the lock.
func (d *dataDir) undo() {
	if !d.removeDir() {
		for i := len(d.made) - 1; i >= 0; i-- {
			os.RemoveAll(d.made[i])
		}
	}
	d.made = nil
	d.release()
}

func (d *dataDir) removeDir() bool {
	if d.fresh {
		os.RemoveAll(d.path)
	}
	return d.fresh
}

// ensureDevCert makes the --dev certificate when there is none, recording
// what it created.
func (d *dataDir) ensureDevCert(certFile, keyFile string, now time.Time) error {
	dir := filepath.Dir(certFile)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		d.track(dir)
	}
	if _, err := os.Lstat(certFile); errors.Is(err, fs.ErrNotExist) {
		d.track(certFile)
		d.track(keyFile)
	}
	return ensureDevCert(certFile, keyFile, now)
}

// Init creates the data dir, seals a new root key to the configured TPM,
// writes the recovery file, seeds the default groups and an admin user,
// and prints the recovery key and the admin's one-time password to
// opt.Out. If it fails half-way it removes what it created, so it can be
// run again.
func Init(cfg Config, opt InitOptions) (err error) {
	harden(opt.Log)
	if err := opt.Split.Check(); err != nil {
		return err
	}
	if opt.Dev {
		if err := DevTPMAvailable(); err != nil {
			return err
		}
	}
	dir, err := lockDataDir(cfg.DataDir, true)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			dir.undo()
		} else {
			dir.release()
		}
	}()
	return initLocked(cfg, opt, dir)
}

// initLocked is Init on a data dir whose lock the caller holds. What it
// creates is recorded in dir, for the caller's undo on failure.
func initLocked(cfg Config, opt InitOptions, dir *dataDir) error {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	if pending, err := initPending(cfg.DataDir); err != nil {
		return err
	} else if pending {
		if err := discardUnfinishedInit(cfg.DataDir, opt.Log); err != nil {
			return err
		}
	} else if done, err := Initialised(cfg.DataDir); err != nil {
		return err
	} else if done {
		return ErrInitialised
	}
	if err := markInitPending(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(sealDir(cfg.DataDir)); errors.Is(err, fs.ErrNotExist) {
		dir.track(sealDir(cfg.DataDir))
	}
	if err := os.Mkdir(sealDir(cfg.DataDir), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
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
	dir.track(sealedPath(cfg.DataDir))
	if err := seal.WriteSealedFile(sealedPath(cfg.DataDir), sealer, root, cfg.Seal.PCRs, now()); err != nil {
		return fmt.Errorf("daemon: seal root key: %w", err)
	}
	killAtStep("init.sealed")
	rk, err := seal.NewRecoveryKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: new recovery key: %w", err)
	}
	defer rk.Destroy()
	dir.track(recoveryPath(cfg.DataDir))
	if err := seal.WriteRecoveryFile(recoveryPath(cfg.DataDir), rk, root, rand.Reader); err != nil {
		return fmt.Errorf("daemon: write recovery file: %w", err)
	}
	killAtStep("init.recovery")

	if err := os.Mkdir(dbPath(cfg.DataDir), 0o700); err != nil {
		return fmt.Errorf("daemon: create store dir: %w", err)
	}
	dir.track(dbPath(cfg.DataDir))
	st, err := store.Open(dbPath(cfg.DataDir), root.Bytes(), store.Options{Logger: opt.Log})
	if err != nil {
		return fmt.Errorf("daemon: create store: %w", err)
	}
	killAtStep("init.store")
	adminID, pw, err := seed(st, cfg, opt.Log)
	if err == nil {
		killAtStep("init.seeded")
	}
	if err == nil && !opt.Dev {
		_, err = bindCounter(st, sealer, store.AuditEntry{Type: "seal.rollback_bind", Actor: "accessd", Source: "local",
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

// seed creates the default groups and the admin user through the
// Identity layer, with the same rules and audit as every later change,
// and returns the admin's generated password for one-time display.
func seed(st *store.Store, cfg Config, log *slog.Logger) (adminID string, pw []byte, err error) {
	al, err := audit.Open(st, audit.Options{Emit: journalEmitter(log), Log: log})
	if err != nil {
		return "", nil, fmt.Errorf("daemon: audit log: %w", err)
	}
	defer al.Close()
	svc, err := identity.New(st, cfg.Identity, identity.Options{Audit: al, Index: authz.New(), Log: log, Issuer: totpIssuer(cfg.Issuer)})
	if err != nil {
		return "", nil, err
	}
	return svc.Bootstrap(context.Background())
}

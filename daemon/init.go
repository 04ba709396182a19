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

// lockDataDir takes an exclusive lock on <data>/.lock, held by init,
// recover and reseal for their whole run, so two of them (or a first
// `serve --dev` and an init) never interleave on one data dir.
func lockDataDir(dataDir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dataDir, ".lock"), os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("daemon: another accessd init, recover or reseal is working on %s; wait for it to finish", dataDir)
		}
		return nil, fmt.Errorf("daemon: lock data dir: %w", err)
	}
	return func() { f.Close() }, nil // closing drops the lock
}

// Init creates the data dir, seals a new root key to the configured TPM,
// writes the recovery file, seeds the default groups and an admin user,
// and prints the recovery key and the admin's one-time password to
// opt.Out. If it fails half-way it removes what it created, so it can be
// run again.
func Init(cfg Config, opt InitOptions) (err error) {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	harden(opt.Log)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("daemon: create data dir: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("daemon: data dir mode: %w", err)
	}
	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	if done, err := Initialised(cfg.DataDir); err != nil {
		return err
	} else if done {
		return ErrInitialised
	}
	if err := os.Mkdir(sealDir(cfg.DataDir), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("daemon: create seal dir: %w", err)
	}
	// Under the lock and after the check above, nothing below exists yet:
	// on failure, remove exactly what this run made.
	var made []string
	defer func() {
		if err != nil {
			for _, p := range made {
				os.RemoveAll(p)
			}
		}
	}()

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
	made = append(made, sealedPath(cfg.DataDir))
	if err := seal.WriteSealedFile(sealedPath(cfg.DataDir), sealer, root, cfg.Seal.PCRs, now()); err != nil {
		return fmt.Errorf("daemon: seal root key: %w", err)
	}
	rk, err := seal.NewRecoveryKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: new recovery key: %w", err)
	}
	defer rk.Destroy()
	made = append(made, recoveryPath(cfg.DataDir))
	if err := seal.WriteRecoveryFile(recoveryPath(cfg.DataDir), rk, root, rand.Reader); err != nil {
		return fmt.Errorf("daemon: write recovery file: %w", err)
	}

	if err := os.Mkdir(dbPath(cfg.DataDir), 0o700); err != nil {
		return fmt.Errorf("daemon: create store dir: %w", err)
	}
	made = append(made, dbPath(cfg.DataDir))
	st, err := store.Open(dbPath(cfg.DataDir), root.Bytes(), store.Options{Logger: opt.Log})
	if err != nil {
		return fmt.Errorf("daemon: create store: %w", err)
	}
	adminID, pw, err := seed(st, cfg, opt.Log)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("daemon: close store: %w", cerr)
	}
	if err != nil {
		return err
	}
	defer clear(pw)

	// Everything is on disk; only now show the secrets, so an operator never
	// writes down a key for an install that was then rolled back.
	opt.Log.Info("data dir initialised", "event", "daemon.init", "data_dir", cfg.DataDir,
		"seal", string(sealer.Kind()), "pcrs", cfg.Seal.PCRs, "admin_id", adminID)
	var b bytes.Buffer
	b.Grow(1024) // room for all of it: no reallocation leaves a copy behind
	fmt.Fprintf(&b, "accessd initialised in %s (sealed to %s", cfg.DataDir, sealer.Kind())
	if len(cfg.Seal.PCRs) > 0 {
		fmt.Fprintf(&b, ", PCRs %v", cfg.Seal.PCRs)
	}
	b.WriteString(")\n\nRecovery key (shown once; store it offline, e.g. in a safe; `accessd recover` needs it if the TPM is cleared or replaced):\n\n    ")
	b.Write(rk.AppendReveal(b.AvailableBuffer()))
	b.WriteString("\n\nAdmin user \"admin\", one-time password (shown once; change it after the first login):\n\n    ")
	b.Write(pw)
	b.WriteString("\n\n")
	_, err = opt.Out.Write(b.Bytes())
	clear(b.Bytes())
	if err != nil {
		// The data dir is complete but nobody saw its secrets: undo it.
		return fmt.Errorf("daemon: print the recovery key and admin password: %w (the data dir was removed; run init again)", err)
	}
	return nil
}

// seed creates the default groups and the admin user through the
// Identity layer, with the same rules and audit as every later change,
// and returns the admin's generated password for one-time display.
func seed(st *store.Store, cfg Config, log *slog.Logger) (adminID string, pw []byte, err error) {
	al, err := audit.Open(st, audit.Options{Log: log})
	if err != nil {
		return "", nil, fmt.Errorf("daemon: audit log: %w", err)
	}
	defer al.Close()
	svc, err := identity.New(st, identityConfig(cfg), identity.Options{Audit: al, Index: authz.New(), Log: log})
	if err != nil {
		return "", nil, err
	}
	return svc.Bootstrap(context.Background())
}

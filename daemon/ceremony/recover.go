package ceremony

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// Recover unwraps the root key with the recovery key (its printed form in
// keyText) and seals it to the TPM in hand, to the current values of the
// PCRs root.sealed records (seal.pcrs when it cannot be read), replacing
// root.sealed. It is the way back after the TPM was cleared or replaced, or
// after PCRs changed unplanned. Before it replaces anything it proves that
// the recovered key opens this data dir's store, so a recovery file from
// another install cannot overwrite a working root.sealed. The daemon must
// be stopped (the store is opened to check the key).
func Recover(cfg Config, dev bool, keyText []byte, log *slog.Logger) error {
	release, err := prepareKeyOp(cfg, log)
	if err != nil {
		return err
	}
	defer release()
	root, err := rootFromRecovery(cfg, keyText, "recover") // the key, or M of its shares
	if err != nil {
		return err
	}
	defer root.Destroy()
	if err := proveStoreKey(cfg, root, log); err != nil {
		return err
	}
	pcrs := recordedPCRs(cfg, log)
	replaced, err := resealWith(cfg, dev, root, pcrs, log)
	if err != nil {
		return err
	}
	log.Warn("root key recovered and re-sealed", "event", "seal.recovered", "pcrs", pcrs)
	if dev || replaced {
		return nil
	}
	return checkAfterRecover(cfg, root, log)
}

// Reseal unseals the root key with the TPM in hand and seals it again, to
// the current values of opt.PCRs (nil: the selection root.sealed records).
// With opt.Planned it prepares a planned firmware or Secure Boot change:
// the key then opens with the current values and with the planned ones,
// never with neither, and the first start on the planned values re-seals
// it to them alone. Unsealing needs the PCRs to hold values the key is
// bound to; after an unplanned change use Recover.
func Reseal(cfg Config, dev bool, opt ResealOptions, log *slog.Logger) error {
	release, err := prepareKeyOp(cfg, log)
	if err != nil {
		return err
	}
	defer release()
	s, err := openSealer(cfg, dev)
	if err != nil {
		return err
	}
	defer s.Close()
	datadir.LogFlushed(log, s)
	root, info, err := seal.ReadSealedFile(datadir.SealedPath(cfg.DataDir), s)
	if err != nil {
		return fmt.Errorf("daemon: reseal: %w", err)
	}
	defer root.Destroy()
	pcrs := opt.PCRs
	if pcrs == nil {
		pcrs = PCRIndices(info.PCRs)
	}
	if len(opt.Planned) > 0 {
		if err := seal.WritePlannedSealedFile(datadir.SealedPath(cfg.DataDir), s, root, pcrs, opt.Planned, time.Now()); err != nil {
			return fmt.Errorf("daemon: reseal for a planned PCR change: %w", err)
		}
		log.Warn("root key re-sealed for a planned PCR change: it opens with the current and with the planned PCR values until the first start on the planned ones",
			"event", "seal.planned", "pcrs", pcrs, "planned", seal.FormatPCRValues(opt.Planned))
		return nil
	}
	if err := seal.WriteSealedFile(datadir.SealedPath(cfg.DataDir), s, root, pcrs, time.Now()); err != nil {
		return fmt.Errorf("daemon: seal root key: %w", err)
	}
	log.Info("root key re-sealed", "event", "seal.resealed", "pcrs", pcrs)
	return nil
}

// prepareKeyOp hardens the process (the root key is about to be in
// memory) and locks the data dir against a concurrent init or reseal.
func prepareKeyOp(cfg Config, log *slog.Logger) (func(), error) {
	datadir.Harden(log)
	if err := datadir.RefuseUnfinishedRestore(cfg.DataDir); err != nil { // checked again under the lock
		return nil, err
	}
	if _, err := os.Stat(datadir.SealDir(cfg.DataDir)); err != nil {
		return nil, fmt.Errorf("daemon: %s: %w (is --data-dir / data_dir right? has `accessd init` run?)", datadir.SealDir(cfg.DataDir), err)
	}
	dir, err := datadir.Lock(cfg.DataDir, false)
	if err != nil {
		return nil, err
	}
	return dir.Release, nil
}

// proveStoreKey opens the store with root and closes it: Badger refuses a
// wrong key, so success means root is this store's key.
func proveStoreKey(cfg Config, root seal.RootKey, log *slog.Logger) error {
	if _, err := os.Stat(datadir.DBPath(cfg.DataDir)); err != nil {
		return fmt.Errorf("daemon: no store at %s to check the recovered key against: %w", datadir.DBPath(cfg.DataDir), err)
	}
	st, err := store.Open(datadir.DBPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log})
	if errors.Is(err, store.ErrKeyMismatch) {
		return fmt.Errorf("daemon: the recovery key opens root.recovery but not the store in %s; is this root.recovery from another install? nothing was changed", cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("daemon: check the recovered key against the store (stop accessd first): %w", err)
	}
	return st.Close()
}

// resealWith seals root to the TPM in hand. When root.sealed was sealed
// under another TPM (cleared or replaced) it first binds the store to a
// new rollback counter on this one (see recovercounter.go) and reports so.
func resealWith(cfg Config, dev bool, root seal.RootKey, pcrs []int, log *slog.Logger) (replaced bool, err error) {
	s, err := openSealer(cfg, dev)
	if err != nil {
		return false, err
	}
	defer s.Close()
	datadir.LogFlushed(log, s)
	if !dev && tpmReplaced(cfg, s) && counterGone(s.TPM) {
		if err := bindAfterClear(cfg, root, s.TPM, log); err != nil {
			return false, err
		}
		replaced = true
	}
	if err := seal.WriteSealedFile(datadir.SealedPath(cfg.DataDir), s, root, pcrs, time.Now()); err != nil {
		return replaced, fmt.Errorf("daemon: seal root key: %w", err)
	}
	return replaced, nil
}

package daemon

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/accessd/accessd/seal"
)

// Recover unwraps the root key with the recovery key (its printed form in
// keyText) and seals it to the TPM in hand with cfg's PCRs, replacing
// root.sealed. It is the way back after the TPM was cleared or replaced, or
// after PCRs changed unplanned. The store is not touched.
func Recover(cfg Config, dev bool, keyText []byte, log *slog.Logger) error {
	rk, err := seal.ParseRecoveryKey(string(keyText))
	if err != nil {
		return fmt.Errorf("daemon: recovery key: %w", err)
	}
	defer rk.Destroy()
	root, err := seal.ReadRecoveryFile(recoveryPath(cfg.DataDir), rk)
	if err != nil {
		return fmt.Errorf("daemon: recover: %w", err)
	}
	defer root.Destroy()
	if err := resealWith(cfg, dev, root); err != nil {
		return err
	}
	log.Warn("root key recovered and re-sealed", "event", "seal.recovered", "pcrs", cfg.Seal.PCRs)
	return nil
}

// Reseal unseals the root key with the TPM in hand and seals it again with
// cfg's PCRs: the step after a planned firmware or Secure Boot change, run
// before the change with the new PCR selection or after it with --pcrs.
func Reseal(cfg Config, dev bool, log *slog.Logger) error {
	s, err := openSealer(cfg, dev)
	if err != nil {
		return err
	}
	root, err := seal.ReadSealedFile(sealedPath(cfg.DataDir), s)
	s.Close()
	if err != nil {
		return fmt.Errorf("daemon: reseal: %w", err)
	}
	defer root.Destroy()
	if err := resealWith(cfg, dev, root); err != nil {
		return err
	}
	log.Info("root key re-sealed", "event", "seal.resealed", "pcrs", cfg.Seal.PCRs)
	return nil
}

func resealWith(cfg Config, dev bool, root seal.RootKey) error {
	s, err := openSealer(cfg, dev)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := seal.WriteSealedFile(sealedPath(cfg.DataDir), s, root, cfg.Seal.PCRs, time.Now()); err != nil {
		return fmt.Errorf("daemon: seal root key: %w", err)
	}
	return nil
}

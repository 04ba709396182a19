package ceremony

import (
	"errors"
	"fmt"
	"io"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/seal"
)

// FinishRekeyRecovery ends a pending rekey-recovery: opt.Old must be the
// NEW key (or its shares), which must open the pending wrap; root.recovery
// then holds that wrap alone and the old key opens nothing on this host.
// Run again after it finished (e.g. killed after the write), it says so
// and changes nothing.
func FinishRekeyRecovery(cfg Config, opt RekeyOptions) error {
	return endRekey(cfg, opt, seal.WrapPending)
}

// AbortRekeyRecovery drops the new wrap of a pending rekey-recovery:
// opt.Old must be the OLD key (or its shares), which must open the
// current wrap; root.recovery then holds that wrap alone, as before the
// rekey. For a new key that never reached the operator.
func AbortRekeyRecovery(cfg Config, opt RekeyOptions) error {
	return endRekey(cfg, opt, seal.WrapCurrent)
}

// endRekey keeps the wrap keep of a pending rekey, after proving the
// operator's key opens it.
func endRekey(cfg Config, opt RekeyOptions, keep seal.RecoveryWrap) error {
	datadir.Harden(opt.Log)
	op, other := "--finish", "--abort --recovery-key-file OLD"
	if keep == seal.WrapCurrent {
		op, other = "--abort", "--finish --recovery-key-file NEW"
	}
	unlock, err := lockRekey(cfg)
	if err != nil {
		return err
	}
	defer unlock()
	path := datadir.RecoveryPath(cfg.DataDir)
	data, current, pending, err := readRecoveryWraps(cfg, "rekey-recovery "+op)
	if err != nil {
		return err
	}
	rk, err := recoveryKeyFrom(opt.Old)
	if err != nil {
		return err
	}
	defer rk.Destroy()
	root, which, err := seal.OpenRecoveryData(data, rk)
	if err != nil {
		return fmt.Errorf("daemon: rekey-recovery %s (nothing was changed): %w", op, err)
	}
	root.Destroy()
	if pending == nil {
		// Nothing pending and this key opens the only wrap: a finish or
		// abort that already happened.
		_, err := fmt.Fprintf(opt.Out, "no rekey-recovery is pending on %s; this key is the one in effect and opens root.recovery. Nothing was changed.\n", cfg.DataDir)
		return err
	}
	if which != keep {
		if keep == seal.WrapPending {
			return fmt.Errorf("daemon: rekey-recovery --finish: this is the OLD key (it opens the wrap in effect before the rekey); --finish takes the NEW key, to prove you hold it. To drop the new key instead: accessd rekey-recovery %s. Nothing was changed", other)
		}
		return fmt.Errorf("daemon: rekey-recovery --abort: this is the NEW key of the pending rekey; --abort takes the OLD key. To keep the new key: accessd rekey-recovery %s. Nothing was changed", other)
	}
	kept := current
	if keep == seal.WrapPending {
		kept = pending
	}
	if err := seal.WriteRecoveryData(path, kept, true); err != nil {
		return fmt.Errorf("daemon: rekey-recovery %s: %w; root.recovery still opens with the old and the new key: run it again", op, err)
	}
	if keep == seal.WrapPending {
		opt.Log.Warn("recovery key replaced", "event", "seal.recovery_rekeyed", "data_dir", cfg.DataDir)
		killAtStep("rekey-finished")
		_, err = fmt.Fprintf(opt.Out, "rekey-recovery finished: only the new recovery key opens root.recovery of %s; the old one opens nothing on this host. "+
			"Backups taken before now still need the old key: take a fresh backup (accessctl backup -f FILE).\n", cfg.DataDir)
		return err
	}
	opt.Log.Warn("pending recovery key dropped", "event", "seal.recovery_rekey_aborted", "data_dir", cfg.DataDir)
	killAtStep("rekey-aborted")
	_, err = fmt.Fprintf(opt.Out, "rekey-recovery aborted: the new key was dropped; the old recovery key alone opens root.recovery of %s. Run rekey-recovery again when ready.\n", cfg.DataDir)
	return err
}

// CheckRecoveryKey tells whether secret, a recovery key or M of its
// shares, opens root.recovery of cfg's data dir, and which wrap: the key
// in effect or the new key of a pending rekey-recovery. It changes
// nothing and touches neither the TPM nor the store.
func CheckRecoveryKey(cfg Config, secret []byte, out io.Writer) error {
	data, _, pending, err := readRecoveryWraps(cfg, "recover --check-key")
	if err != nil {
		return err
	}
	rk, err := recoveryKeyFrom(secret)
	if err != nil {
		return err
	}
	defer rk.Destroy()
	root, which, err := seal.OpenRecoveryData(data, rk)
	if err != nil {
		if errors.Is(err, seal.ErrWrongRecoveryKey) {
			return fmt.Errorf("daemon: recover --check-key: %w; nothing was changed", err)
		}
		return fmt.Errorf("daemon: recover --check-key: %w", err)
	}
	root.Destroy()
	switch {
	case pending == nil:
		_, err = fmt.Fprintf(out, "this recovery key opens root.recovery of %s: it is the key in effect. Nothing was changed.\n", cfg.DataDir)
	case which == seal.WrapPending:
		_, err = fmt.Fprintf(out, "this recovery key opens root.recovery of %s: it is the NEW key of the pending rekey-recovery. "+
			"Retire the old key with the same key file(s): accessd rekey-recovery --finish --recovery-key-file NEW. Nothing was changed.\n", cfg.DataDir)
	default:
		_, err = fmt.Fprintf(out, "this recovery key opens root.recovery of %s: it is the OLD key, in effect until the pending rekey-recovery is finished "+
			"(accessd rekey-recovery --finish with the new key) or aborted (accessd rekey-recovery --abort with this key). Nothing was changed.\n", cfg.DataDir)
	}
	return err
}

package daemon

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"github.com/accessd/accessd/seal"
)

// RecoveryShares asks init or rekey-recovery to split the new recovery
// key into N shares of which any Threshold rebuild it; the zero value
// prints the key itself.
type RecoveryShares struct {
	N, Threshold int
}

// Check refuses a split that cannot be made, before anything is created.
func (s RecoveryShares) Check() error {
	switch {
	case s.N == 0 && s.Threshold == 0:
		return nil
	case s.N == 0 || s.Threshold == 0:
		return errors.New("daemon: --recovery-shares and --recovery-threshold go together (e.g. --recovery-shares 5 --recovery-threshold 3)")
	case s.Threshold < 2 || s.N < s.Threshold || s.N > 255:
		return fmt.Errorf("daemon: cannot split the recovery key into %d shares with threshold %d: need 2 <= threshold <= shares <= 255", s.N, s.Threshold)
	}
	return nil
}

// rootFromRecovery unwraps the root key of cfg's data dir with the
// recovery key (or M of its shares) in secret: what recover, accept-
// rollback and rekey-recovery all begin with. op names the command in
// errors. The caller destroys the key.
func rootFromRecovery(cfg Config, secret []byte, op string) (seal.RootKey, error) {
	rk, err := recoveryKeyFrom(secret)
	if err != nil {
		return seal.RootKey{}, err
	}
	defer rk.Destroy()
	root, err := seal.ReadRecoveryFile(recoveryPath(cfg.DataDir), rk)
	if err != nil {
		return seal.RootKey{}, fmt.Errorf("daemon: %s: %w", op, err)
	}
	return root, nil
}

// recoveryKeyFrom reads the recovery key an operator handed over: its
// printed form, or (when it starts with ACCESSD-SHARE-) one share per
// line, at least the split's threshold of them; blank lines and lines
// starting with # are skipped. Errors never quote the text.
func recoveryKeyFrom(secret []byte) (seal.RecoveryKey, error) {
	if !seal.IsRecoveryShareText(secret) {
		rk, err := seal.ParseRecoveryKey(secret)
		if err != nil {
			return seal.RecoveryKey{}, fmt.Errorf("daemon: recovery key: %w", err)
		}
		return rk, nil
	}
	var shares []seal.RecoveryShare
	defer func() {
		for _, s := range shares {
			s.Destroy()
		}
	}()
	for i, line := range bytes.Split(secret, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		s, err := seal.ParseRecoveryShare(line)
		if err != nil {
			return seal.RecoveryKey{}, fmt.Errorf("daemon: recovery share on line %d of the share input: %w", i+1, err)
		}
		shares = append(shares, s)
	}
	rk, err := seal.CombineRecoveryShares(shares)
	if err != nil {
		return seal.RecoveryKey{}, fmt.Errorf("daemon: %w", err)
	}
	return rk, nil
}

// appendRecoverySecret appends the new recovery key, or its shares, to b
// for display once. what says what it is for.
func appendRecoverySecret(b *bytes.Buffer, rk seal.RecoveryKey, split RecoveryShares, what string) error {
	if split.N == 0 {
		b.WriteString("Recovery key (shown once; store it offline, e.g. in a safe; " + what + "):\n\n    ")
		b.Write(rk.AppendReveal(b.AvailableBuffer()))
		b.WriteString("\n")
		return nil
	}
	shares, err := seal.SplitRecoveryKey(rk, split.N, split.Threshold, rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer func() {
		for _, s := range shares {
			s.Destroy()
		}
	}()
	fmt.Fprintf(b, "Recovery key, split into %d shares; any %d of them rebuild it, fewer tell nothing (shown once; give each share to a different person, each to keep offline; %s):\n", split.N, split.Threshold, what)
	for _, s := range shares {
		fmt.Fprintf(b, "\n  share %d of %d:\n    ", s.Index(), split.N)
		b.Write(s.AppendReveal(b.AvailableBuffer()))
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\nTo use them, put each share in its own file and pass %d of them: --recovery-share-file FILE (repeated).\n", split.Threshold)
	return nil
}

// RekeyOptions are rekey-recovery's inputs besides the config.
type RekeyOptions struct {
	// Old is the current recovery key or its shares, as read from the
	// operator's files (recoveryKeyFrom's input).
	Old []byte
	// Split, when set, prints the new key as shares.
	Split RecoveryShares
	// Out receives the new key, once.
	Out io.Writer
	Log *slog.Logger
}

// RekeyRecovery replaces the recovery key: it unwraps the root key in
// root.recovery with the old key, wraps it under a new one and replaces
// the file atomically, then prints the new key once. The old key then
// opens nothing on this host; backups taken before carry the old wrapped
// key and still need the old recovery key. It touches neither the TPM nor
// the store, so it runs while accessd serves; two rekeys never interleave
// (a lock on the seal directory).
func RekeyRecovery(cfg Config, opt RekeyOptions) error {
	harden(opt.Log)
	if err := opt.Split.Check(); err != nil {
		return err
	}
	if err := refuseUnfinishedRestore(cfg.DataDir); err != nil {
		return err
	}
	dir := sealDir(cfg.DataDir)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("daemon: %s: %w (is --data-dir / data_dir right? has `accessd init` run?)", dir, err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("daemon: another rekey-recovery is running on %s; wait for it to finish", cfg.DataDir)
	}
	path := recoveryPath(cfg.DataDir)
	root, err := rootFromRecovery(cfg, opt.Old, "rekey-recovery (nothing was changed)")
	if err != nil {
		return err
	}
	defer root.Destroy()
	rk, err := seal.NewRecoveryKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: new recovery key: %w", err)
	}
	defer rk.Destroy()
	// Build the text first: a split that fails must not have replaced
	// the file.
	var b bytes.Buffer
	b.Grow(64 << 10) // room for all of it: no reallocation leaves a copy behind
	defer func() { clear(b.Bytes()[:b.Cap()]) }()
	b.WriteString("The recovery key of " + cfg.DataDir + " was replaced; the old one no longer opens root.recovery.\n\n")
	if err := appendRecoverySecret(&b, rk, opt.Split, "`accessd recover` and `accessd restore` need it from now on"); err != nil {
		return err
	}
	b.WriteString("\nBackups taken before now carry the old wrapped key: they still need the OLD recovery key. " +
		"Keep the old key until those backups are destroyed, or take a fresh backup now (accessctl backup -f FILE) and destroy the old ones.\n")
	before, err := seal.ReadRecoveryData(path)
	if err != nil {
		return fmt.Errorf("daemon: rekey-recovery: %w", err)
	}
	if err := seal.WriteRecoveryFile(path, rk, root, rand.Reader); err != nil {
		return fmt.Errorf("daemon: rekey-recovery: %w", err)
	}
	// Prove the file opens with the new key before telling anyone.
	check, err := seal.ReadRecoveryFile(path, rk)
	if err == nil && !check.Equal(root) {
		err = errors.New("it holds another root key")
	}
	check.Destroy()
	if err == nil {
		_, err = opt.Out.Write(b.Bytes())
		if err != nil {
			err = fmt.Errorf("print the new recovery key: %w", err)
		}
	}
	if err != nil {
		// Nobody has the new key: put the old file back, so the key in
		// effect is always one someone holds.
		if rerr := seal.WriteRecoveryData(path, before, true); rerr != nil {
			return fmt.Errorf("daemon: rekey-recovery: %w; putting the old root.recovery back failed too (%v): restore it from a backup", err, rerr)
		}
		return fmt.Errorf("daemon: rekey-recovery: %w; the old root.recovery was put back and the old key still works", err)
	}
	opt.Log.Warn("recovery key replaced", "event", "seal.recovery_rekeyed", "data_dir", cfg.DataDir, "shares", opt.Split.N, "threshold", opt.Split.Threshold)
	return nil
}

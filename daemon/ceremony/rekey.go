package ceremony

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/accessd/accessd/daemon/internal/datadir"
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
	root, err := seal.ReadRecoveryFile(datadir.RecoveryPath(cfg.DataDir), rk)
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
	// operator's files (recoveryKeyFrom's input); for --finish the new
	// one.
	Old []byte
	// Split, when set, prints the new key as shares.
	Split RecoveryShares
	// OutFile, when set, receives the new key instead of Out: created
	// 0600, never over an existing file, synced before the command
	// returns.
	OutFile string
	// Out receives the new key (unless OutFile) and the next steps.
	Out io.Writer
	Log *slog.Logger
}

// RekeyRecovery starts replacing the recovery key. It unwraps the root
// key in root.recovery with the old key, wraps it under a new one and
// writes both wraps to root.recovery (synced), then delivers the new key
// once: to Out, or to OutFile. The old key goes on opening root.recovery
// until the operator, having checked the new key (accessd recover
// --check-key), retires it with FinishRekeyRecovery; so a display that
// fails or a process killed at any point leaves a key the operator holds
// working. SIGPIPE is ignored while it runs: a reader that went away is
// an error that says so, never a silent exit. A second rekey while one is
// pending is refused. It touches neither the TPM nor the store, so it runs
// while accessd serves; two rekeys never interleave (a lock on the seal
// directory).
func RekeyRecovery(cfg Config, opt RekeyOptions) error {
	datadir.Harden(opt.Log)
	if err := opt.Split.Check(); err != nil {
		return err
	}
	unlock, err := lockRekey(cfg)
	if err != nil {
		return err
	}
	defer unlock()
	path := datadir.RecoveryPath(cfg.DataDir)
	_, current, pending, err := readRecoveryWraps(cfg, "rekey-recovery")
	if err != nil {
		return err
	}
	if pending != nil {
		return fmt.Errorf("daemon: rekey-recovery: a rekey is already pending on %s (root.recovery opens with the old and the new key); nothing was changed. "+
			"If you hold the new key: accessd recover --check-key %s, then accessd rekey-recovery --finish %s; "+
			"if it never reached you: accessd rekey-recovery --abort %s, then rekey again",
			cfg.DataDir, keyArgs("NEW", opt.Split), keyArgs("NEW", opt.Split), keyArgs("OLD", RecoveryShares{}))
	}
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
	// Build the text first: a split that fails must not have written
	// anything.
	var b bytes.Buffer
	b.Grow(64 << 10) // room for all of it: no reallocation leaves a copy behind
	defer func() { clear(b.Bytes()[:b.Cap()]) }()
	b.WriteString("A new recovery key for " + cfg.DataDir + ". Until you retire the old key, root.recovery opens with either.\n\n")
	if err := appendRecoverySecret(&b, rk, opt.Split, "check it, then retire the old key as below"); err != nil {
		return err
	}
	b.WriteString(rekeyNextSteps(opt.Split))
	wrap, err := seal.WrapRecovery(rk, root, rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: rekey-recovery: %w", err)
	}
	// Prove the new wrap opens with the new key before writing it.
	check, err := seal.UnwrapRecoveryData(wrap, rk)
	if err == nil && !check.Equal(root) {
		err = errors.New("it holds another root key")
	}
	check.Destroy()
	if err != nil {
		return fmt.Errorf("daemon: rekey-recovery: the new wrap does not open: %w; nothing was changed", err)
	}
	var out *os.File
	if opt.OutFile != "" {
		// Refuse an existing file before anything durable happens.
		if out, err = os.OpenFile(opt.OutFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("daemon: rekey-recovery: --out: %w (it never overwrites a file: name a new one); nothing was changed", err)
		}
		defer out.Close()
	}
	both, err := seal.JoinRecoveryData(current, wrap)
	if err != nil {
		return fmt.Errorf("daemon: rekey-recovery: %w", err)
	}
	if err := seal.WriteRecoveryData(path, both, true); err != nil {
		return fmt.Errorf("daemon: rekey-recovery: %w; the old key still opens root.recovery", err)
	}
	opt.Log.Warn("new recovery key wrapped beside the old one", "event", "seal.recovery_rekey_started", "data_dir", cfg.DataDir, "shares", opt.Split.N, "threshold", opt.Split.Threshold)
	killAtStep("rekey-pending")
	if err := deliverRekey(opt, out, b.Bytes()); err != nil {
		return fmt.Errorf("daemon: rekey-recovery: %w. The new key may not have reached you in full; root.recovery still opens with the OLD key (and with the new one, if you have it). "+
			"Next: accessd rekey-recovery --abort %s, then rekey again; or, if you do hold the new key, accessd recover --check-key %s and accessd rekey-recovery --finish %s",
			err, keyArgs("OLD", RecoveryShares{}), keyArgs("NEW", opt.Split), keyArgs("NEW", opt.Split))
	}
	killAtStep("rekey-delivered")
	return nil
}

// deliverRekey writes text, the new key and the next steps, to OutFile
// (synced, with its directory) and a pointer to it on Out, or to Out.
func deliverRekey(opt RekeyOptions, out *os.File, text []byte) error {
	if out == nil {
		if _, err := opt.Out.Write(text); err != nil {
			return fmt.Errorf("print the new recovery key: %w", err)
		}
		return nil
	}
	if _, err := out.Write(text); err != nil {
		return fmt.Errorf("write the new recovery key to %s: %w", opt.OutFile, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", opt.OutFile, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", opt.OutFile, err)
	}
	if err := datadir.SyncDir(filepath.Dir(opt.OutFile)); err != nil {
		return fmt.Errorf("sync the directory of %s: %w", opt.OutFile, err)
	}
	if _, err := fmt.Fprintf(opt.Out, "The new recovery key and the next steps are in %s (mode 0600). Move it offline, then check the key and retire the old one as that file says.\n", opt.OutFile); err != nil {
		return fmt.Errorf("the new key is in %s, but saying so failed: %w", opt.OutFile, err)
	}
	return nil
}

// rekeyNextSteps is what the operator does after a rekey delivered the
// new key.
func rekeyNextSteps(split RecoveryShares) string {
	return "\nNext, once the new key is stored offline:\n" +
		"    accessd recover --check-key " + keyArgs("NEW", split) + "\n" +
		"    accessd rekey-recovery --finish " + keyArgs("NEW", split) + "\n" +
		"(with the --config or --data-dir of this command). Until --finish, the old key keeps working; after it, only the new one opens root.recovery. " +
		"If the new key is lost before then: accessd rekey-recovery --abort --recovery-key-file OLD (or the old shares).\n" +
		"\nBackups taken before this rekey carry only the old wrapped key: they still need the OLD recovery key. " +
		"Keep the old key until those backups are destroyed, or after --finish take a fresh backup (accessctl backup -f FILE) and destroy the old ones.\n"
}

// keyArgs names the flags that hand over key who (NEW or OLD): its file,
// or one file per share when split.
func keyArgs(who string, split RecoveryShares) string {
	if split.N == 0 {
		return "--recovery-key-file " + who
	}
	return fmt.Sprintf("--recovery-share-file %s-SHARE (repeated, %d of them)", who, split.Threshold)
}

// readRecoveryWraps reads root.recovery of cfg's data dir and splits it
// into its wraps (pending nil when no rekey is pending); op names the
// command in errors.
func readRecoveryWraps(cfg Config, op string) (data, current, pending []byte, err error) {
	data, err = seal.ReadRecoveryData(datadir.RecoveryPath(cfg.DataDir))
	if err == nil {
		current, pending, err = seal.SplitRecoveryData(data)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("daemon: %s: %w", op, err)
	}
	return data, current, pending, nil
}

// lockRekey takes the seal directory's lock that keeps two rekeys apart,
// and ignores SIGPIPE while it is held: a reader gone from stdout is an
// error, not a silent exit. unlock releases both.
func lockRekey(cfg Config) (unlock func(), err error) {
	signal.Ignore(syscall.SIGPIPE)
	defer func() {
		if err != nil {
			signal.Reset(syscall.SIGPIPE)
		}
	}()
	// A restore that did not finish is finished first: its store and
	// seal files are not yet the data dir's.
	if err := datadir.RefuseUnfinishedRestore(cfg.DataDir); err != nil {
		return nil, err
	}
	dir := datadir.SealDir(cfg.DataDir)
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("daemon: %s: %w (is --data-dir / data_dir right? has `accessd init` run?)", dir, err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		return nil, fmt.Errorf("daemon: another rekey-recovery is running on %s; wait for it to finish", cfg.DataDir)
	}
	return func() {
		d.Close()
		signal.Reset(syscall.SIGPIPE)
	}, nil
}

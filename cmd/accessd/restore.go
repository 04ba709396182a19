package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/accessd/accessd/daemon"
	"github.com/accessd/accessd/daemon/ceremony"
)

// recoveryInput is how a command that needs the recovery key gets it:
// --recovery-key-file, or M share files (--recovery-share-file,
// repeated). Init and rekey-recovery take the split of the new key.
type recoveryInput struct {
	keyFile    string
	shareFiles []string
}

func (ri *recoveryInput) register(fs *flag.FlagSet, keyUsage string) {
	fs.StringVar(&ri.keyFile, "recovery-key-file", "", keyUsage)
	fs.Func("recovery-share-file", "`file` holding one share of a split recovery key; repeat it for as many shares as the split needs", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		ri.shareFiles = append(ri.shareFiles, s)
		return nil
	})
}

// read returns the key or the shares (one per line) for the daemon to
// parse; the caller clears it.
func (ri *recoveryInput) read() ([]byte, error) {
	switch {
	case ri.keyFile != "" && len(ri.shareFiles) > 0:
		return nil, usageError{errors.New("give --recovery-key-file or --recovery-share-file, not both")}
	case ri.keyFile == "" && len(ri.shareFiles) == 0:
		return nil, usageError{errors.New("--recovery-key-file (or --recovery-share-file, once per share) is required")}
	case ri.keyFile != "":
		return readSecretFile(ri.keyFile)
	}
	var all bytes.Buffer
	all.Grow(len(ri.shareFiles) * 256)
	for _, f := range ri.shareFiles {
		b, err := readSecretFile(f)
		if err != nil {
			clear(all.Bytes())
			return nil, err
		}
		all.Write(b)
		all.WriteByte('\n')
		clear(b)
	}
	return all.Bytes(), nil
}

// readSecretFile reads a small secret file, or stdin for "-".
func readSecretFile(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read recovery key: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read recovery key from %s: %w", name, err)
	}
	return b, nil
}

// splitFlags registers --recovery-shares and --recovery-threshold.
func splitFlags(fs *flag.FlagSet, s *ceremony.RecoveryShares) {
	fs.Func("recovery-shares", "split the new recovery key into `N` shares (with --recovery-threshold)", func(v string) error {
		n, err := strconv.Atoi(v)
		s.N = n
		return err
	})
	fs.Func("recovery-threshold", "any `M` shares rebuild the key; fewer tell nothing", func(v string) error {
		n, err := strconv.Atoi(v)
		s.Threshold = n
		return err
	})
}

// readWith reads the recovery key (or shares) and then the configuration
// c names: what every ceremony that takes the key needs first. The caller
// clears the secret; on an error nothing is left to clear.
func (ri *recoveryInput) readWith(c *common) ([]byte, daemon.Config, error) {
	secret, err := ri.read()
	if err != nil {
		return nil, daemon.Config{}, err
	}
	cfg, err := c.load()
	if err != nil {
		clear(secret)
		return nil, daemon.Config{}, err
	}
	return secret, cfg, nil
}

func restoreFlags(fs *flag.FlagSet) action {
	var c common
	var ri recoveryInput
	var backup string
	c.register(fs)
	fs.StringVar(&backup, "backup", "", "backup `file` written by accessctl backup")
	ri.register(fs, "`file` holding the recovery key that was in effect when the backup was taken")
	return func(stdout, stderr io.Writer, log *slog.Logger) error {
		if backup == "" {
			return usageError{errors.New("--backup is required")}
		}
		secret, cfg, err := ri.readWith(&c)
		if err != nil {
			return err
		}
		defer clear(secret)
		f, err := os.Open(backup)
		if err != nil {
			return fmt.Errorf("open backup: %w", err)
		}
		defer f.Close()
		return ceremony.Restore(cfg.Ceremony(), ceremony.RestoreOptions{Dev: c.dev, Backup: f, BackupName: backup, Secret: secret, Out: stdout, Log: log})
	}
}

func rekeyFlags(fs *flag.FlagSet) action {
	var c common
	var ri recoveryInput
	var split ceremony.RecoveryShares
	var finish, abort bool
	var out string
	c.register(fs)
	ri.register(fs, "`file` holding the current (old) recovery key (- for stdin); with --finish the new one")
	splitFlags(fs, &split)
	fs.StringVar(&out, "out", "", "write the new key to `file` (created 0600, never overwritten, synced) instead of stdout")
	fs.BoolVar(&finish, "finish", false, "retire the old key of a pending rekey; takes the NEW key, after accessd recover --check-key confirmed it")
	fs.BoolVar(&abort, "abort", false, "drop the new key of a pending rekey that never reached you; takes the OLD key")
	return func(stdout, stderr io.Writer, log *slog.Logger) error {
		if err := split.Check(); err != nil {
			return usageError{err}
		}
		if finish && abort {
			return usageError{errors.New("give --finish or --abort, not both")}
		}
		if (finish || abort) && (split.N != 0 || out != "") {
			return usageError{errors.New("--finish and --abort make no new key: drop --recovery-shares, --recovery-threshold and --out")}
		}
		secret, cfg, err := ri.readWith(&c)
		if err != nil {
			return err
		}
		defer clear(secret)
		opt := ceremony.RekeyOptions{Old: secret, Split: split, OutFile: out, Out: stdout, Log: log}
		switch {
		case finish:
			return ceremony.FinishRekeyRecovery(cfg.Ceremony(), opt)
		case abort:
			return ceremony.AbortRekeyRecovery(cfg.Ceremony(), opt)
		}
		return ceremony.RekeyRecovery(cfg.Ceremony(), opt)
	}
}

package datadir

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/accessd/accessd/daemon/internal/lockdown"
	"github.com/accessd/accessd/seal"
)

// Harden turns off core dumps and locks memory before any key is in it.
// A failure is logged, not fatal: the core-dumps and memory-lock findings
// give the verdict.
func Harden(log *slog.Logger) {
	if err := lockdown.Harden(); err != nil {
		log.Warn("process hardening incomplete", "event", "lockdown.harden", "err", err)
	}
}

// Sealer is an open TPM and, under --dev without the simulator compiled
// in, the swtpm child serving it, stopped on Close.
type Sealer struct {
	*seal.TPM
	swtpm *seal.Swtpm
}

// Close closes the TPM and stops the swtpm child, if any.
func (d *Sealer) Close() error {
	err := d.TPM.Close()
	if d.swtpm != nil {
		d.swtpm.Stop()
	}
	return err
}

// OpenSealer opens the TPM device names (seal.device) for the data dir
// dataDir. The simulator is refused outside --dev, even where it is
// compiled in. Under --dev, in a binary built without it (CGO_ENABLED=0:
// `go run` on a machine without a C compiler), the dev TPM is a swtpm
// child with its state in <data>/seal/swtpm, started here and stopped on
// Close; a dev data dir that swtpm sealed keeps using it.
func OpenSealer(dataDir, device string, dev bool) (*Sealer, error) {
	if device == "simulator" && !dev {
		return nil, errors.New("daemon: seal.device = \"simulator\" is for --dev only; use /dev/tpmrm0 or swtpm (tcp://127.0.0.1:PORT)")
	}
	d := &Sealer{}
	configured := device
	if device == "simulator" && useDevSwtpm(dataDir) {
		_, err := os.Stat(filepath.Join(SealDir(dataDir), "simulator.seed"))
		if err == nil {
			return nil, fmt.Errorf("daemon: %s was sealed to the in-process TPM simulator, which this binary lacks (built with CGO_ENABLED=0); run it built with cgo (gcc and libssl-dev installed), or move the dev data dir away to start over", dataDir)
		}
		sw, err := seal.StartSwtpm(swtpmDir(dataDir), 0)
		if errors.Is(err, seal.ErrNoSwtpm) {
			return nil, errNoDevTPM
		}
		if err != nil {
			return nil, fmt.Errorf("daemon: --dev: start swtpm: %w", err)
		}
		d.swtpm, device = sw, sw.Device
	}
	s, err := seal.Open(seal.Config{
		Device:            device,
		SimulatorSeedFile: filepath.Join(SealDir(dataDir), "simulator.seed"),
	})
	if err != nil {
		if d.swtpm != nil {
			d.swtpm.Stop()
		}
		return nil, fmt.Errorf("daemon: open TPM %s: %w", configured, err)
	}
	d.TPM = s
	return d, nil
}

// useDevSwtpm reports whether a --dev run uses a swtpm child rather than
// the in-process simulator: when the simulator is not compiled in, or when
// this dev data dir was sealed to swtpm already.
func useDevSwtpm(dataDir string) bool {
	if !seal.SimulatorBuiltIn {
		return true
	}
	_, err := os.Stat(swtpmDir(dataDir))
	return err == nil
}

var errNoDevTPM = fmt.Errorf("daemon: --dev needs a TPM: this accessd was built without the in-process simulator (CGO_ENABLED=0, no C compiler), so it runs swtpm itself, and swtpm is not installed; run `%s` and start again", seal.SwtpmInstallHint)

// DevTPMAvailable says, before anything is created, whether --dev can get a
// TPM on this machine: the simulator compiled in, or swtpm installed. The
// error says the one command that fixes it.
func DevTPMAvailable() error {
	if seal.SimulatorBuiltIn {
		return nil
	}
	if _, err := exec.LookPath("swtpm"); err != nil {
		return errNoDevTPM
	}
	return nil
}

// LogFlushed says what opening the TPM flushed: transient objects and
// sessions a killed process left in a TPM without a resource manager.
func LogFlushed(log *slog.Logger, s *Sealer) {
	n := s.Flushed()
	if n.Objects+n.Sessions == 0 {
		return
	}
	log.Warn("flushed transient objects and sessions left in the TPM by a process that did not finish (the TPM has no resource manager)",
		"event", "seal.leftovers_flushed", "objects", n.Objects, "sessions", n.Sessions)
}

package seal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/seal/sealtest"
)

// tpmOf returns the *seal.TPM behind a harness instance.
func tpmOf(t *testing.T, inst sealtest.Instance) *seal.TPM {
	t.Helper()
	switch v := inst.(type) {
	case *seal.TPM:
		return v
	case *swtpmInstance:
		return v.TPM
	}
	require.Fail(t, fmt.Sprintf("unexpected instance type %T", inst))
	return nil
}

func extendPCR(t *testing.T, inst sealtest.Instance, pcr int) {
	t.Helper()
	require.NoError(t, seal.ExtendPCR(tpmOf(t, inst), pcr, sealtest.Measurement))
}

// startSwtpm starts swtpm on stateDir and returns it with a TPM connected.
func startSwtpm(t *testing.T, stateDir string) (*seal.Swtpm, *seal.TPM) {
	t.Helper()
	p := sealtest.StartSwtpm(t, stateDir, 0)
	s, err := seal.Open(seal.Config{Device: p.Device})
	require.NoError(t, err)
	return p, s
}

// swtpmInstance is a connection to swtpm; closing it stops swtpm, so that
// the next Open is a fresh start (a reboot) of the same TPM state.
type swtpmInstance struct {
	*seal.TPM
	proc *seal.Swtpm
}

func (s *swtpmInstance) Close() error {
	err := s.TPM.Close()
	s.proc.Stop()
	return err
}

func swtpmHarness(t *testing.T) sealtest.Harness {
	root := t.TempDir()
	var stateDir string
	gen := 0
	replace := func(t *testing.T) {
		gen++
		stateDir = filepath.Join(root, fmt.Sprintf("tpm-%d", gen))
		require.NoError(t, os.Mkdir(stateDir, 0o700))
	}
	replace(t)
	return sealtest.Harness{
		Open: func(t *testing.T) sealtest.Instance {
			p, s := startSwtpm(t, stateDir)
			inst := &swtpmInstance{TPM: s, proc: p}
			t.Cleanup(func() { _ = inst.Close() })
			return inst
		},
		Replace:   replace,
		ExtendPCR: extendPCR,
		PCR:       7,
		Kind:      seal.KindTCP,
	}
}

func TestConformanceSwtpm(t *testing.T) {
	t.Parallel()
	sealtest.Run(t, swtpmHarness(t))
}

// The device harness binds to PCR 23, which applications may reset, and
// resets it afterwards: it must not disturb the host's boot measurements.
func TestConformanceDevice(t *testing.T) {
	t.Parallel()
	const dev = seal.DefaultDevice
	if _, err := os.Stat(dev); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s does not exist: no TPM on this host, skipping the device tests", dev)
	}
	const pcr = 23
	sealtest.Run(t, sealtest.Harness{
		Open: func(t *testing.T) sealtest.Instance {
			s, err := seal.Open(seal.Config{Device: dev})
			if errors.Is(err, seal.ErrPermission) {
				t.Skipf("no permission on %s: %v", dev, err)
			}
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		ExtendPCR: func(t *testing.T, inst sealtest.Instance, pcr int) {
			extendPCR(t, inst, pcr)
			t.Cleanup(func() {
				s, err := seal.Open(seal.Config{Device: dev})
				if err != nil {
					assert.Fail(t, fmt.Sprintf("reopen %s to reset PCR %d: %v", dev, pcr, err))
					return
				}
				defer s.Close()
				if err := seal.ResetPCR(s, pcr); err != nil {
					assert.Fail(t, fmt.Sprintf("reset PCR %d: %v", pcr, err))
				}
			})
		},
		PCR:  pcr,
		Kind: seal.KindDevice,
		Slow: true,
	})
}

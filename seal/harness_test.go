package seal_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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
	t.Fatalf("unexpected instance type %T", inst)
	return nil
}

func extendPCR(t *testing.T, inst sealtest.Instance, pcr int) {
	t.Helper()
	if err := seal.ExtendPCR(tpmOf(t, inst), pcr, []byte("sealtest measurement")); err != nil {
		t.Fatal(err)
	}
}

// swtpmBinary returns the path of swtpm, or skips the test.
func swtpmBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		t.Skip("swtpm binary not found in PATH, skipping the swtpm tests (install it with: apt-get install swtpm swtpm-tools)")
	}
	return bin
}

// swtpmProc is a running swtpm serving one state directory on loopback.
type swtpmProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSwtpm starts swtpm on stateDir and returns it with a TPM connected.
// Ports are picked free and retried if swtpm loses the race for them.
func startSwtpm(t *testing.T, bin, stateDir string) (*swtpmProc, *seal.TPM) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, ctrl := freePort(t), freePort(t)
		if port == ctrl {
			continue
		}
		cmd := exec.Command(bin, "socket", "--tpm2",
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ctrl),
			"--flags", "not-need-init,startup-clear",
			"--tpmstate", "dir="+stateDir,
			"--log", "file="+filepath.Join(stateDir, "swtpm.log")+",level=1")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start swtpm: %v", err)
		}
		p := &swtpmProc{cmd: cmd, addr: fmt.Sprintf("tcp://127.0.0.1:%d", port), done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			s, err := seal.Open(seal.Config{Device: p.addr})
			if err == nil {
				return p, s
			}
			lastErr = err
			select {
			case <-p.done:
				deadline = time.Time{} // exited: probably lost the port, retry
			case <-time.After(20 * time.Millisecond):
			}
		}
		p.stop(t)
	}
	t.Fatalf("could not start swtpm: %v", lastErr)
	return nil, nil
}

func (p *swtpmProc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("swtpm did not stop on SIGTERM")
	}
}

// swtpmInstance is a connection to swtpm; closing it stops swtpm, so that
// the next Open is a fresh start (a reboot) of the same TPM state.
type swtpmInstance struct {
	*seal.TPM
	proc *swtpmProc
	t    *testing.T
}

func (s *swtpmInstance) Close() error {
	err := s.TPM.Close()
	s.proc.stop(s.t)
	return err
}

func swtpmHarness(t *testing.T) sealtest.Harness {
	bin := swtpmBinary(t)
	root := t.TempDir()
	var stateDir string
	gen := 0
	replace := func(t *testing.T) {
		gen++
		stateDir = filepath.Join(root, fmt.Sprintf("tpm-%d", gen))
		if err := os.Mkdir(stateDir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	replace(t)
	return sealtest.Harness{
		Open: func(t *testing.T) sealtest.Instance {
			p, s := startSwtpm(t, bin, stateDir)
			inst := &swtpmInstance{TPM: s, proc: p, t: t}
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
	sealtest.Run(t, swtpmHarness(t))
}

// The device harness binds to PCR 23, which applications may reset, and
// resets it afterwards: it must not disturb the host's boot measurements.
func TestConformanceDevice(t *testing.T) {
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
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		ExtendPCR: func(t *testing.T, inst sealtest.Instance, pcr int) {
			extendPCR(t, inst, pcr)
			t.Cleanup(func() {
				s, err := seal.Open(seal.Config{Device: dev})
				if err != nil {
					t.Errorf("reopen %s to reset PCR %d: %v", dev, pcr, err)
					return
				}
				defer s.Close()
				if err := seal.ResetPCR(s, pcr); err != nil {
					t.Errorf("reset PCR %d: %v", pcr, err)
				}
			})
		},
		PCR:  pcr,
		Kind: seal.KindDevice,
		Slow: true,
	})
}

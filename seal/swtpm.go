package seal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNoSwtpm means the swtpm program is not installed, so no software TPM
// can be started.
var ErrNoSwtpm = errors.New("swtpm is not installed")

// SwtpmInstallHint is the one command that makes StartSwtpm work on Debian
// and Ubuntu.
const SwtpmInstallHint = "sudo apt-get install swtpm"

// Swtpm is a swtpm child process serving one TPM state directory on
// loopback TCP. It is the software TPM of `serve --dev` in binaries built
// without the in-process simulator (CGO_ENABLED=0), and of the tests. Its
// state directory holds the TPM's seeds in clear: it protects nothing.
type Swtpm struct {
	// Device is the address to hand Open: "tcp://127.0.0.1:PORT".
	Device string
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartSwtpm starts swtpm on stateDir (created 0700 if missing), listening
// on 127.0.0.1:port (0 picks a free port) with its control channel on
// port+1 where that is free, already started up so Open can use it at once. Stop it with Stop; the child is also signalled if this
// process dies first.
func StartSwtpm(stateDir string, port int) (*Swtpm, error) {
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		return nil, fmt.Errorf("seal: %w (%s)", ErrNoSwtpm, SwtpmInstallHint)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("seal: swtpm state dir: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if p == 0 {
			if p, err = freePort(); err != nil {
				return nil, err
			}
		}
		// The control channel goes on the next port, where tpm2-tss's swtpm
		// and mssim TCTIs look for it (so tpm2-tools can drive this TPM),
		// unless that port turned out to be taken.
		ctrl := p + 1
		if attempt >= 3 || ctrl > 65535 {
			if ctrl, err = freePort(); err != nil {
				return nil, err
			}
		}
		if ctrl == p {
			continue
		}
		s := &Swtpm{Device: fmt.Sprintf("tcp://127.0.0.1:%d", p), done: make(chan struct{})}
		s.cmd = exec.Command(bin, "socket", "--tpm2",
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ctrl),
			"--flags", "not-need-init,startup-clear",
			"--tpmstate", "dir="+stateDir,
			"--log", "file="+filepath.Join(stateDir, "swtpm.log")+",level=1")
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("seal: start swtpm: %w", err)
		}
		go func() { _ = s.cmd.Wait(); close(s.done) }()
		if lastErr = s.waitUp(10 * time.Second); lastErr == nil {
			return s, nil
		}
		s.Stop()
		if port != 0 { // a fixed port may still be held by a previous swtpm
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil, fmt.Errorf("seal: swtpm did not come up (see %s): %w", filepath.Join(stateDir, "swtpm.log"), lastErr)
}

func (s *Swtpm) waitUp(d time.Duration) error {
	addr := s.Device[len("tcp://"):]
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return errors.New("swtpm exited at start (port taken?)")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// Stop ends swtpm (SIGTERM, then SIGKILL after 10 s) and waits for it.
// Later calls do nothing.
func (s *Swtpm) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("seal: pick a port for swtpm: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

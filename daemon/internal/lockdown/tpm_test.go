package lockdown

import (
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

func TestSealDevice(t *testing.T) {
	t.Parallel()
	// A real loopback listener stands in for swtpm's command port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	live := "tcp://" + l.Addr().String()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := "tcp://" + dead.Addr().String()
	dead.Close()

	tests := []struct {
		name      string
		device    string
		setup     func(t *testing.T, tr *tree) string // returns the device
		dev       bool
		want      Status
		wantSev   Severity
		wantFound string
		wantFix   string
	}{
		{name: "char device", device: "/dev/null", want: StatusPass, wantSev: SeverityCritical, wantFound: "character device"},
		{name: "missing", device: "/dev/tpmrm-accessd-test-missing", want: StatusFail, wantSev: SeverityCritical, wantFound: "no TPM found", wantFix: "swtpm"},
		{
			name: "regular file",
			setup: func(t *testing.T, tr *tree) string {
				return writeFile(t, tr.path("fake-tpm"), nil, 0o600)
			},
			want: StatusFail, wantSev: SeverityCritical, wantFound: "not a character device",
		},
		{name: "simulator in production", device: "simulator", want: StatusFail, wantSev: SeverityCritical, wantFound: "the simulator is for --dev only"},
		{name: "simulator in dev", device: "simulator", dev: true, want: StatusInfo, wantSev: SeverityInfo, wantFound: "simulator"},
		{name: "swtpm on loopback", device: live, want: StatusWarn, wantSev: SeverityWarning, wantFound: "software TPM", wantFix: "/dev/tpmrm0"},
		{name: "swtpm on loopback in dev", device: live, dev: true, want: StatusInfo, wantSev: SeverityInfo, wantFound: "software TPM"},
		{name: "swtpm not running", device: deadAddr, want: StatusFail, wantSev: SeverityCritical, wantFound: "nothing answers", wantFix: "swtpm socket"},
		{name: "ipv6 loopback", device: "tcp://[::1]:1", want: StatusFail, wantSev: SeverityCritical, wantFound: "nothing answers"},
		{name: "remote TPM", device: "tcp://10.1.2.3:2321", want: StatusFail, wantSev: SeverityCritical, wantFound: "not a loopback address"},
		// localhost is 127.0.0.1, as seal.Open reads it; nothing listens there in the test.
		{name: "localhost", device: "tcp://localhost:1", want: StatusFail, wantSev: SeverityCritical, wantFound: "nothing answers on 127.0.0.1:1", wantFix: "start swtpm"},
		{name: "wildcard", device: "tcp://0.0.0.0:2321", want: StatusFail, wantSev: SeverityCritical, wantFound: "not a loopback address"},
		{name: "no port", device: "tcp://127.0.0.1", want: StatusFail, wantSev: SeverityCritical, wantFound: "has no port"},
		{name: "empty", device: "", want: StatusFail, wantSev: SeverityCritical, wantFound: "no seal device"},
		{name: "relative path", device: "tpmrm0", want: StatusFail, wantSev: SeverityCritical, wantFound: "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			tr.cfg.SealDevice = tt.device
			if tt.setup != nil {
				tr.cfg.SealDevice = tt.setup(t, tr)
			}
			tr.cfg.Dev = tt.dev
			start := time.Now()
			f := finding(t, tr.cfg, "seal-device")
			if d := time.Since(start); d > 5*time.Second {
				assert.Fail(t, fmt.Sprintf("took %v", d))
			}
			want := tt.want
			if tt.dev && want == StatusFail {
				want = StatusWarn
			}
			assert.False(t, f.Status != want || f.Severity != tt.wantSev || !strings.Contains(f.Found, tt.wantFound) || !strings.Contains(f.Fix, tt.wantFix), "got %s/%s %q fix %q; want %s/%s, found ~%q, fix ~%q", f.Status, f.Severity, f.Found, f.Fix, want, tt.wantSev, tt.wantFound, tt.wantFix)
		})
	}
}

// TestTPMOpenFailure covers the open errors a root test process cannot
// provoke for real (root bypasses the device's mode bits).
func TestTPMOpenFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		wantFix string
	}{
		// The errors as seal.ProbeDevice wraps them.
		{name: "EACCES", err: fmt.Errorf("seal: open: %w: %w", seal.ErrPermission, &fs.PathError{Op: "open", Path: "/dev/tpmrm0", Err: syscall.EACCES}), wantFix: "add the service user to group tss: usermod -aG tss accessd"},
		{name: "EBUSY", err: fmt.Errorf("seal: open: %w", &fs.PathError{Op: "open", Path: "/dev/tpm0", Err: syscall.EBUSY}), wantFix: "/dev/tpmrm0"},
		{name: "ENXIO", err: fmt.Errorf("seal: open: %w: %w", seal.ErrNoDevice, &fs.PathError{Op: "open", Path: "/dev/tpm0", Err: syscall.ENXIO}), wantFix: "load tpm_tis"},
		{name: "EIO", err: fmt.Errorf("seal: open: %w", &fs.PathError{Op: "open", Path: "/dev/tpm0", Err: syscall.EIO}), wantFix: "dmesg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fix := tpmFix("accessd", tt.err); !strings.Contains(fix, tt.wantFix) {
				assert.Fail(t, fmt.Sprintf("fix %q, want ~%q", fix, tt.wantFix))
			}
		})
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build time.Time
		now   time.Time
		dev   bool
		want  Status
	}{
		{name: "after build", build: buildTime, now: buildTime.Add(time.Hour), want: StatusPass},
		{name: "at build", build: buildTime, now: buildTime, want: StatusPass},
		{name: "before build", build: buildTime, now: buildTime.Add(-time.Second), want: StatusFail},
		{name: "before build in dev", build: buildTime, now: time.Unix(0, 0), dev: true, want: StatusWarn},
		{name: "unknown build time", now: time.Unix(0, 0), want: StatusInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			tr.cfg.BuildTime, tr.cfg.Dev = tt.build, tt.dev
			tr.cfg.Now = func() time.Time { return tt.now }
			f := finding(t, tr.cfg, "clock")
			assert.EqualValues(t, tt.want, f.Status, "got %s %q, want %s", f.Status, f.Found, tt.want)
		})
	}
}

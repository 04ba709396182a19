package seal_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	regular := filepath.Join(t.TempDir(), "not-a-device")
	require.NoError(t, os.WriteFile(regular, nil, 0o600))
	// A loopback port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := l.Addr().String()
	l.Close()

	tests := []struct {
		name   string
		cfg    seal.Config
		is     error
		substr string
	}{
		{"missing device", seal.Config{Device: "/nonexistent/tpmrm0"}, seal.ErrNoDevice, "enable the TPM in the firmware"},
		{"regular file", seal.Config{Device: regular}, seal.ErrNoDevice, "not a character device"},
		{"not a TPM", seal.Config{Device: "/dev/null"}, seal.ErrNoDevice, "does not answer TPM commands"},
		{"nothing listening", seal.Config{Device: "tcp://" + closedPort}, seal.ErrNoDevice, "is swtpm running"},
		{"remote address", seal.Config{Device: "tcp://192.0.2.10:2321"}, nil, "not a loopback address"},
		{"host name", seal.Config{Device: "tcp://tpm.example.com:2321"}, nil, "not a loopback address"},
		{"no port", seal.Config{Device: "tcp://127.0.0.1"}, nil, "has no port"},
		{"path in address", seal.Config{Device: "tcp://127.0.0.1:2321/x"}, nil, "want tcp://HOST:PORT"},
		{"unknown scheme", seal.Config{Device: "http://127.0.0.1:2321"}, nil, "want a device path"},
		{"relative path", seal.Config{Device: "tpmrm0"}, nil, "want a device path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := seal.Open(tt.cfg)
			if err == nil {
				s.Close()
				require.Fail(t, "Open succeeded")
			}
			assert.False(t, tt.is != nil && !errors.Is(err, tt.is), "error = %v, want %v", err, tt.is)
			assert.False(t, !strings.Contains(err.Error(), tt.substr) || !strings.HasPrefix(err.Error(), "seal: "), "error %q should start with \"seal: \" and contain %q", err, tt.substr)
		})
	}
}

func TestDeviceErrorMapping(t *testing.T) {
	t.Parallel()
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "open", Path: "/dev/tpmrm0", Err: errno}
	}
	tests := []struct {
		name   string
		err    error
		is     error
		substr string
	}{
		{"no such file", pathErr(syscall.ENOENT), seal.ErrNoDevice, "enable the TPM"},
		{"no driver", pathErr(syscall.ENODEV), seal.ErrNoDevice, "enable the TPM"},
		{"no such device or address", pathErr(syscall.ENXIO), seal.ErrNoDevice, "enable the TPM"},
		{"EACCES", pathErr(syscall.EACCES), seal.ErrPermission, "the service user needs group tss"},
		{"EPERM", pathErr(syscall.EPERM), seal.ErrPermission, "the service user needs group tss"},
		{"busy", pathErr(syscall.EBUSY), syscall.EBUSY, "/dev/tpmrm0"},
		{"other", pathErr(syscall.EIO), syscall.EIO, "input/output error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := seal.DeviceError("/dev/tpmrm0", tt.err)
			assert.ErrorIs(t, err, tt.is, "error = %v, want %v", err, tt.is)
			assert.Contains(t, err.Error(), tt.substr, "error %q should contain %q", err, tt.substr)
		})
	}
}

func TestTCPAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		remote bool
		want   string // "" = error
	}{
		{"tcp://127.0.0.1:2321", false, "127.0.0.1:2321"},
		{"tcp://127.1.2.3:2321", false, "127.1.2.3:2321"},
		{"tcp://[::1]:2321", false, "[::1]:2321"},
		{"tcp://localhost:2321", false, "127.0.0.1:2321"},
		{"tcp://LOCALHOST:2321/", false, "127.0.0.1:2321"},
		{"tcp://10.0.0.1:2321", false, ""},
		{"tcp://0.0.0.0:2321", false, ""},
		{"tcp://[::]:2321", false, ""},
		{"tcp://tpm.example.com:2321", false, ""},
		{"tcp://10.0.0.1:2321", true, "10.0.0.1:2321"},
		{"tcp://tpm.example.com:2321", true, "tpm.example.com:2321"},
		{"tcp://user@127.0.0.1:2321", false, ""},
		{"tcp://127.0.0.1:2321?x=1", false, ""},
		{"tcp://127.0.0.1", false, ""},
		{"tcp://", false, ""},
	}
	for _, tt := range tests {
		got, err := seal.TCPAddressAllow(tt.in, tt.remote)
		if tt.want == "" {
			assert.Error(t, err, "tcpAddress(%q, %v) = %q, want an error", tt.in, tt.remote, got)
			continue
		}
		assert.False(t, err != nil || got != tt.want, "tcpAddress(%q, %v) = %q, %v; want %q", tt.in, tt.remote, got, err, tt.want)
	}
}

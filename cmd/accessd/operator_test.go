package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/daemontest"
)

// The operator's path (issue 8 §3): each test here failed before its fix.

// TestSecondServeRefusedByLock: a second serve on a data dir that one is
// serving stops at the data-dir lock, with accessd's own message, before
// it touches a TPM (its TPM address has nothing listening, so reaching it
// would fail differently) and before Badger's directory lock.
func TestSecondServeRefusedByLock(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	first := startServe(t, 90*time.Second, "--dev", "--data-dir", d, "--listen", freeAddr(t))
	cfg := filepath.Join(t.TempDir(), "accessd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("[seal]\ndevice = \"tcp://127.0.0.1:9\"\n[listen]\nadmin_socket = %q\n",
		filepath.Join(t.TempDir(), "admin2.sock"))), 0o600))
	r := runAccessd(t, "serve", "--dev", "--config", cfg, "--data-dir", d, "--listen", freeAddr(t))
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "in use by another accessd")
	require.NotContains(t, r.stderr, "open TPM")
	require.NotContains(t, r.stderr, "unseal")
	require.NotContains(t, r.stderr, "Cannot acquire directory lock")
	first.stop(t)
}

// entries lists what is under dir, relative, or nil when dir is gone.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return out
}

// TestFailedInitLeavesNothing: init, or a first serve --dev, that fails
// removes what it made: no .lock, no empty seal/, no dev TLS key; a data
// dir it created is gone, one that existed is as it was.
func TestFailedInitLeavesNothing(t *testing.T) {
	t.Parallel()
	noTPM := filepath.Join(t.TempDir(), "accessd.toml")
	require.NoError(t, os.WriteFile(noTPM, []byte("[seal]\ndevice = \"tcp://127.0.0.1:9\"\n[lockdown]\nmode = \"warn\"\n"), 0o600))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	tests := []struct {
		name   string
		exists bool // the data dir exists (empty) beforehand, as tmpfiles makes it
		args   func(d string) []string
	}{
		{"init, new data dir", false, func(d string) []string { return []string{"init", "--config", noTPM, "--data-dir", d} }},
		{"init, existing data dir", true, func(d string) []string { return []string{"init", "--config", noTPM, "--data-dir", d} }},
		{"first serve --dev, TPM unreachable", false, func(d string) []string {
			return []string{"serve", "--dev", "--config", noTPM, "--data-dir", d, "--listen", freeAddr(t)}
		}},
		{"first serve --dev, existing dir, TPM unreachable", true, func(d string) []string {
			return []string{"serve", "--dev", "--config", noTPM, "--data-dir", d, "--listen", freeAddr(t)}
		}},
		{"first serve --dev, port taken after init", false, func(d string) []string {
			return []string{"serve", "--dev", "--data-dir", d, "--listen", busy.Addr().String()}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "data")
			if tt.exists {
				require.NoError(t, os.Mkdir(d, 0o700))
			}
			r := runAccessd(t, tt.args(d)...)
			require.NotEqual(t, 0, r.code, r.stderr)
			require.Empty(t, entries(t, d), "left behind in %s; stderr:\n%s", d, r.stderr)
			_, err := os.Stat(d)
			require.Equal(t, tt.exists, err == nil, "data dir existence changed: %v", err)
		})
	}
}

// TestInitAsRootRefused: on a host with the service user, init as root
// refuses and prints the line to run instead (the data dir and sealed key
// must belong to the user the unit runs as).
func TestInitAsRootRefused(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	d := filepath.Join(t.TempDir(), "data")
	cmd := accessd("init", "--config", "/etc/accessd/accessd.toml", "--data-dir", d)
	cmd.Env = append(cmd.Env, "ACCESSD_E2E_SERVICE_USER=nobody") // an account every Debian host has
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, string(out))
	require.Equal(t, exitUsage, ee.ExitCode(), string(out))
	require.Contains(t, string(out), "sudo -u nobody accessd init --config /etc/accessd/accessd.toml --data-dir "+d)
	_, err = os.Stat(d)
	require.ErrorIs(t, err, os.ErrNotExist, "refused before creating anything")
}

// buildNoCgo builds accessd as `go run` builds it on a machine without a
// C compiler: CGO_ENABLED=0, so no simulator.
//
// scripts/test builds that binary once before its race phase and names it
// in ACCESSD_NOCGO_BIN; it is used after a check that it is this build
// without cgo.
func buildNoCgo(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ACCESSD_NOCGO_BIN"); bin != "" {
		out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
		require.NoError(t, err, "ACCESSD_NOCGO_BIN=%s: %s", bin, out)
		require.Contains(t, string(out), "CGO_ENABLED=0", "ACCESSD_NOCGO_BIN=%s was built with cgo", bin)
		require.Contains(t, string(out), "github.com/accessd/accessd/cmd/accessd", "ACCESSD_NOCGO_BIN=%s is not accessd", bin)
		return bin
	}
	bin := filepath.Join(t.TempDir(), "accessd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// TestDevWithoutCgo: the README's first command, `go run ./cmd/accessd
// serve --dev`, on a machine with Go only. Without swtpm it stops at once
// with the one command that fixes it and creates nothing; with swtpm it
// runs it as its dev TPM and serves.
func TestDevWithoutCgo(t *testing.T) {
	t.Parallel()
	bin := buildNoCgo(t)
	d := filepath.Join(t.TempDir(), "accessd-dev")

	t.Run("no swtpm", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--dev", "--data-dir", d, "--listen", freeAddr(t))
		cmd.Env = append(os.Environ(), "PATH=/nonexistent")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		require.Error(t, err, string(out))
		require.Less(t, time.Since(start), 10*time.Second)
		require.Contains(t, string(out), "sudo apt-get install swtpm")
		_, err = os.Stat(d)
		require.ErrorIs(t, err, os.ErrNotExist, "nothing created")
	})

	t.Run("swtpm child", func(t *testing.T) {
		if _, err := exec.LookPath("swtpm"); err != nil {
			t.Skip("swtpm not installed (scripts/test installs it)")
		}
		addr := freeAddr(t)
		notify, notes := daemontest.NotifySocket(t)
		cmd := exec.Command(bin, "serve", "--dev", "--data-dir", d, "--listen", addr)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
		var stdout, stderr daemontest.SyncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		daemontest.WaitFor(t, notes, "READY=1", 90*time.Second)
		recovery, _ := secretsIn(t, stdout.String())
		require.NotEmpty(t, recovery)
		pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
		require.NoError(t, err)
		body, err := tlsGetPEM(pem, "https://"+addr+"/health")
		require.NoError(t, err, stderr.String())
		require.Equal(t, "healthy", body)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait(), stderr.String())
		require.True(t, strings.Contains(stderr.String(), `"seal":"tcp"`), stderr.String())
	})
}

// TestManAndCompletion: both are rendered from the command table, so each
// visible command and each of its flags appears.
func TestManAndCompletion(t *testing.T) {
	t.Parallel()
	man := runAccessd(t, "man")
	require.Equal(t, 0, man.code, man.stderr)
	comp := runAccessd(t, "completion", "bash")
	require.Equal(t, 0, comp.code, comp.stderr)
	require.NoError(t, exec.Command("bash", "-n", "-c", comp.stdout).Run())
	for _, c := range commands {
		if c.hidden {
			continue
		}
		require.Contains(t, man.stdout, ".SS "+roff(c.name)+"\n")
		require.Contains(t, comp.stdout, c.name+")")
		for _, f := range flagsOf(c) {
			require.Contains(t, man.stdout, `\-\-`+roff(f.Name))
			require.Contains(t, comp.stdout, "--"+f.Name)
		}
	}
	require.NotContains(t, runAccessd(t, "help").stdout, "completion", "hidden from usage")
}

// tlsGetPEM is tlsGet trusting the PEM certificate given.
func tlsGetPEM(pem []byte, url string) (string, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return "", fmt.Errorf("no certificate in PEM")
	}
	return tlsGet(pool, url)
}

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startSwtpm runs a real software TPM (Debian's swtpm) on 127.0.0.1:port
// with its state in dir, and stops it when the test ends or stop is called.
func startSwtpm(t *testing.T, port int, dir string) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	require.NoError(t, err, "swtpm is installed by scripts/test")
	var cmd *exec.Cmd
	for attempt := 0; ; attempt++ {
		ctrl := freePort(t)
		cmd = exec.Command(bin, "socket", "--tpm2",
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ctrl),
			"--flags", "not-need-init,startup-clear", "--tpmstate", "dir="+dir)
		require.NoError(t, cmd.Start())
		if waitTCP(fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second) {
			break
		}
		cmd.Process.Kill()
		cmd.Wait()
		require.Less(t, attempt, 5, "swtpm did not come up on port %d", port)
		time.Sleep(200 * time.Millisecond)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitTCP(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestProductionPathWithSwtpm runs the production commands (no --dev)
// against a real TPM over TCP: init seals to swtpm with the default PCR 7
// policy, serve unseals and serves; then the TPM is replaced by a fresh one
// (new state: a cleared or swapped TPM), serve refuses with an error that
// says so, recover re-seals with the printed recovery key, and serve works
// again on the same store.
func TestProductionPathWithSwtpm(t *testing.T) {
	port := freePort(t)
	stopA := startSwtpm(t, port, t.TempDir())

	tmp := t.TempDir()
	d := filepath.Join(tmp, "data")
	crt, key := filepath.Join(tmp, "server.crt"), filepath.Join(tmp, "server.key")
	pool, _ := writeCert(t, crt, key)
	addr := freeAddr(t)
	cfgFile := filepath.Join(tmp, "accessd.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`data_dir = %q
issuer = "https://%s"
[seal]
device = "tcp://127.0.0.1:%d"
[listen]
tls = %q
admin_socket = %q
[tls]
cert = %q
key = %q
[lockdown]
mode = "warn"   # the test runs as root under /tmp; every finding is still logged
`, d, addr, port, addr, filepath.Join(tmp, "admin.sock"), crt, key)), 0o600))

	r := runAccessd(t, "init", "--config", cfgFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "sealed to tcp, PCRs [7]")
	recovery, _ := secretsIn(t, r.stdout)

	serveOnce := func() {
		t.Helper()
		s := startServe(t, 60*time.Second, "--config", cfgFile)
		c, err := tlsGet(pool, "https://"+addr+"/health")
		require.NoError(t, err)
		require.Equal(t, "healthy", c)
		s.stop(t)
	}
	serveOnce()

	// The TPM is replaced: same address, fresh state.
	stopA()
	startSwtpm(t, port, t.TempDir())
	r = runAccessd(t, "serve", "--config", cfgFile)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "sealed by a different TPM")
	require.Contains(t, r.stderr, "accessd recover")

	keyFile := filepath.Join(tmp, "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(recovery), 0o600))
	r = runAccessd(t, "recover", "--config", cfgFile, "--recovery-key-file", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	serveOnce()
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/daemontest"
	"github.com/accessd/accessd/seal/sealtest"
)

// TestProductionPathWithSwtpm runs the production commands (no --dev)
// against a real TPM over TCP: init seals to swtpm with the default PCR 7
// policy, serve unseals and serves; then the TPM is replaced by a fresh one
// (new state: a cleared or swapped TPM), serve refuses with an error that
// says so, recover re-seals with the printed recovery key, and serve works
// again on the same store.
func TestProductionPathWithSwtpm(t *testing.T) {
	port := daemontest.FreePort(t)
	stopA := sealtest.StartSwtpm(t, t.TempDir(), port).Stop

	tmp := t.TempDir()
	d := filepath.Join(tmp, "data")
	crt, key := filepath.Join(tmp, "server.crt"), filepath.Join(tmp, "server.key")
	pool, _ := writeCert(t, crt, key)
	addr := daemontest.FreeAddr(t)
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
	sealtest.StartSwtpm(t, t.TempDir(), port)
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

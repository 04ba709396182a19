package main

import (
	"os"
	"os/exec"
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
// says so, recover re-seals with the printed recovery key and, the new TPM
// having no rollback counter, binds the store to a new one (audited), and
// serve works again on the same store; recover --accept-rollback after it
// changes nothing that stops serve.
func TestProductionPathWithSwtpm(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	stopA := sealtest.StartSwtpm(t, t.TempDir(), port).Stop

	tmp := t.TempDir()
	pc := newProdConf(t, tmp, port)
	cfgFile, pool, addr := pc.file, pc.pool, pc.addr

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
	require.Contains(t, r.stdout, "start accessd again")
	// The new TPM had no rollback counter: recover bound the store to one.
	serveOnce()
	r = runAccessd(t, "recover", "--config", cfgFile, "--accept-rollback", "--recovery-key-file", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	serveOnce()
}

// TestRollbackDetectedWithSwtpm runs production serve against swtpm, whose
// NV state (and so the rollback counter) survives restarts: a data dir
// copied while the service was stopped (refused after one start and stop),
// and one copied while it ran (refused after the stop alone), exit 6; `recover --accept-rollback` binds the old copy deliberately, and
// it then starts, with the acceptance in the audit log.
func TestRollbackDetectedWithSwtpm(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	sealtest.StartSwtpm(t, t.TempDir(), port)
	tmp := t.TempDir()
	d := filepath.Join(tmp, "data")
	pc := newProdConf(t, tmp, port)
	pc.write(t, "[]")
	cfgFile, pool, addr, sock := pc.file, pc.pool, pc.addr, pc.sock

	r := runAccessd(t, "init", "--config", cfgFile)
	require.Equal(t, 0, r.code, r.stderr)
	recovery, _ := secretsIn(t, r.stdout)
	keyFile := filepath.Join(tmp, "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(recovery), 0o600))
	ctl := buildAccessctl(t)

	copyData := func(name string) string {
		t.Helper()
		to := filepath.Join(tmp, name)
		out, err := exec.Command("cp", "-a", d, to).CombinedOutput()
		require.NoError(t, err, string(out))
		require.NoError(t, os.Remove(filepath.Join(to, ".lock")))
		return to
	}
	putBack := func(from string) {
		t.Helper()
		require.NoError(t, os.RemoveAll(d))
		out, err := exec.Command("cp", "-a", from, d).CombinedOutput()
		require.NoError(t, err, string(out))
	}

	stoppedCopy := copyData("copy-stopped")
	s := startServe(t, 60*time.Second, "--config", cfgFile)
	out, err := exec.Command(ctl, "--socket", sock, "status").Output()
	require.NoError(t, err)
	require.Contains(t, string(out), "detection on")
	c, err := tlsGet(pool, "https://"+addr+"/health")
	require.NoError(t, err)
	require.Equal(t, "healthy", c)
	runningCopy := copyData("copy-running")
	s.stop(t) // the clean stop alone puts the running copy behind

	for _, old := range []string{runningCopy, stoppedCopy} {
		putBack(old)
		r = serveRefused(t, "--config", cfgFile)
		require.Equal(t, exitRollback, r.code, r.stderr)
		require.Contains(t, r.stderr, "rollback detected")
		require.Contains(t, r.stderr, "store is behind")
		require.Contains(t, r.stderr, "accessd recover --accept-rollback")
		require.NotContains(t, r.stderr, recovery)
	}

	// Accepting needs the recovery key, and is audited.
	r = runAccessd(t, "recover", "--config", cfgFile, "--accept-rollback", "--recovery-key-file", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "rollback accepted")
	require.NotContains(t, r.stderr, recovery)
	s = startServe(t, 60*time.Second, "--config", cfgFile)
	out, err = exec.Command(ctl, "--socket", sock, "-o", "json", "audit", "list").Output()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "seal.rollback_accept")
	s.stop(t)

	// And it keeps starting: the counter moves on with it.
	s = startServe(t, 60*time.Second, "--config", cfgFile)
	s.stop(t)
}

// serveRefused runs `accessd serve args…`, which is expected to refuse to
// start; one that starts instead is stopped after a while, so a broken
// check fails the test rather than hanging it.
func serveRefused(t *testing.T, args ...string) result {
	t.Helper()
	cmd := accessd(append([]string{"serve"}, args...)...)
	var out, errb daemontest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "serve exited 0")
		return result{out.String(), errb.String(), ee.ExitCode()}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		require.Fail(t, "serve started instead of refusing", errb.String())
		return result{}
	}
}

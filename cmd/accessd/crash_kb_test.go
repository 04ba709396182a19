package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/seal/sealtest"
)

// The crash rows of the TPM ceremonies: reseal and recover killed with
// SIGKILL inside the TPM work (ACCESSD_TEST_CRASH_AT, see
// seal/crashpoint.go), on swtpm over TCP, which has no resource manager
// and three object slots, so every kill leaves its handles loaded.

// runKilledAt runs `accessd args…` with ACCESSD_TEST_CRASH_AT=step and
// requires that it died of SIGKILL there, not of an error before it.
func runKilledAt(t *testing.T, step string, args ...string) {
	t.Helper()
	cmd := accessd(args...)
	cmd.Env = append(cmd.Env, "ACCESSD_TEST_CRASH_AT="+step)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "accessd %v at %s: %v\n%s", args, step, err, out)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL,
		"accessd %v was to die of SIGKILL at %s, but exited %d:\n%s", args, step, ee.ExitCode(), out)
}

// requireLeftovers requires that swtpm holds handles a killed process
// left, so a test that kills cannot pass by killing too early.
func requireLeftovers(t *testing.T, port int) {
	t.Helper()
	n, _, err := seal.Inspect(fmt.Sprintf("tcp://127.0.0.1:%d", port))
	require.NoError(t, err)
	require.Positive(t, n.Objects, "the killed ceremony left no transient object in swtpm")
}

// kbInstall is an install on swtpm at port, initialised, with the
// recovery key in keyFile and one user made through the admin plane.
type kbInstall struct {
	cfg, sock, keyFile, recovery, ctl string
}

func newKBInstall(t *testing.T, port int) kbInstall {
	t.Helper()
	dir := t.TempDir()
	var in kbInstall
	in.cfg, in.sock = swtpmConfig(t, dir, port)
	r := runAccessd(t, "init", "--config", in.cfg)
	require.Equal(t, 0, r.code, r.stderr)
	in.recovery, _ = secretsIn(t, r.stdout)
	in.keyFile = filepath.Join(dir, "recovery.key")
	require.NoError(t, os.WriteFile(in.keyFile, []byte(in.recovery+"\n"), 0o600))
	in.ctl = buildAccessctl(t)
	s := startServe(t, 60*time.Second, "--config", in.cfg)
	ctlRun(t, in.ctl, in.sock, "user", "create", "--username", "carol", "--email", "carol@example.com")
	s.stop(t)
	return in
}

// serveWorks starts serve, requires the acknowledged user and a verifying
// audit chain, and returns serve's log.
func (in kbInstall) serveWorks(t *testing.T) string {
	t.Helper()
	s := startServe(t, 60*time.Second, "--config", in.cfg)
	require.Contains(t, contents(t, in.ctl, in.sock).Users, "carol carol@example.com")
	require.Regexp(t, `chain:\s+ok`, ctlRun(t, in.ctl, in.sock, "audit", "verify"))
	s.stop(t)
	log := s.stderr.String()
	require.NotContains(t, log, in.recovery)
	requireNotStored(t, filepath.Join(filepath.Dir(in.cfg), "data"), []byte(in.recovery))
	return log
}

// TestCrashKBReseal: `accessd reseal`, and `accessd reseal --pcr-values`,
// each SIGKILLed three times inside the TPM work (after the SRK, the
// sealed object and the policy session are loaded; for --pcr-values also
// while sealing the new blob), then serve starts on the unchanged
// root.sealed, flushing what the kills left and saying so, and a reseal
// run to the end works.
func TestCrashKBReseal(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	sealtest.StartSwtpm(t, t.TempDir(), port)
	in := newKBInstall(t, port)
	planned := sha256.Sum256([]byte("planned PCR 7"))
	variants := []struct {
		name  string
		args  []string
		steps []string
	}{
		{"reseal", []string{"reseal", "--config", in.cfg},
			[]string{"seal.unseal.srk", "seal.unseal.loaded", "seal.unseal.session"}},
		{"reseal --pcr-values", []string{"reseal", "--config", in.cfg, "--pcr-values", "7=sha256:" + hex.EncodeToString(planned[:])},
			[]string{"seal.unseal.loaded", "seal.unseal.session", "seal.seal.srk"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, step := range v.steps {
				runKilledAt(t, step, v.args...)
				requireLeftovers(t, port)
			}
			log := in.serveWorks(t)
			require.Contains(t, log, "seal.leftovers_flushed")
			requireLeftovers0(t, port)
			r := runAccessd(t, v.args...)
			require.Equal(t, 0, r.code, r.stderr)
			in.serveWorks(t)
		})
	}
}

// requireLeftovers0 requires that nothing is left loaded in swtpm.
func requireLeftovers0(t *testing.T, port int) {
	t.Helper()
	n, full, err := seal.Inspect(fmt.Sprintf("tcp://127.0.0.1:%d", port))
	require.NoError(t, err)
	require.Equal(t, seal.Leftovers{}, n)
	require.False(t, full)
}

// TestCrashKBRecover: the TPM is replaced by a cleared one; `accessd
// recover`, and `accessd recover --accept-rollback`, are SIGKILLed three
// times inside the TPM work (while checking what root.sealed was sealed
// under, and while sealing the key to the new TPM); serve then refuses
// naming `accessd recover`; the documented recover run to the end prints
// "start accessd again", and serve starts: the plain recover bound the
// store to the new TPM's rollback counter itself, audited, and every
// acknowledged write is there.
func TestCrashKBRecover(t *testing.T) {
	t.Parallel()
	for _, accept := range []bool{false, true} {
		name := "recover"
		if accept {
			name += " --accept-rollback"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			stopA := sealtest.StartSwtpm(t, t.TempDir(), port).Stop
			in := newKBInstall(t, port)
			stopA()
			sealtest.StartSwtpm(t, t.TempDir(), port) // cleared: same address, new seeds, no NV counter

			args := []string{"recover", "--config", in.cfg, "--recovery-key-file", in.keyFile}
			if accept {
				args = append(args, "--accept-rollback")
			}
			for _, step := range []string{"seal.unseal.srk", "seal.seal.srk", "seal.unseal.srk"} {
				runKilledAt(t, step, args...)
				requireLeftovers(t, port)
			}
			r := serveRefused(t, "--config", in.cfg)
			require.Contains(t, r.stderr, "accessd recover")

			r = runAccessd(t, args...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "start accessd again")
			require.NotContains(t, r.stdout+r.stderr, in.recovery)
			in.serveWorks(t)
			s := startServe(t, 60*time.Second, "--config", in.cfg)
			out := ctlRun(t, in.ctl, in.sock, "audit", "list", "--type", "seal.rollback_bind")
			s.stop(t)
			require.Contains(t, out, "accessd recover", "the bind by recover is in the audit log")
		})
	}
}

// TestCrashKBRecoverRollback: a plain recover on the TPM the store is
// bound to, with the data dir put back from an older copy, does not say
// "start accessd again": it exits 6 naming `accessd recover
// --accept-rollback`; so it does when the copy also carries a root.sealed
// of another TPM (which a cleared TPM would explain, but this TPM still
// has its counter), and --accept-rollback then works.
func TestCrashKBRecoverRollback(t *testing.T) {
	t.Parallel()
	otherPort := freePort(t)
	sealtest.StartSwtpm(t, t.TempDir(), otherPort)
	otherCfg, _ := swtpmConfig(t, t.TempDir(), otherPort)
	r := runAccessd(t, "init", "--config", otherCfg)
	require.Equal(t, 0, r.code, r.stderr)
	foreign, err := os.ReadFile(filepath.Join(filepath.Dir(otherCfg), "data", "seal", "root.sealed"))
	require.NoError(t, err)

	port := freePort(t)
	sealtest.StartSwtpm(t, t.TempDir(), port)
	in := newKBInstall(t, port)
	data := filepath.Join(filepath.Dir(in.cfg), "data")
	old := filepath.Join(t.TempDir(), "old")
	out, err := exec.Command("cp", "-a", data, old).CombinedOutput()
	require.NoError(t, err, string(out))
	in.serveWorks(t) // start and stop move the counter on
	require.NoError(t, os.RemoveAll(data))
	out, err = exec.Command("cp", "-a", old, data).CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.Remove(filepath.Join(data, ".lock")))

	for _, sealed := range [][]byte{nil, foreign} {
		if sealed != nil {
			require.NoError(t, os.WriteFile(filepath.Join(data, "seal", "root.sealed"), sealed, 0o600))
		}
		r = runAccessd(t, "recover", "--config", in.cfg, "--recovery-key-file", in.keyFile)
		require.Equal(t, exitRollback, r.code, r.stderr)
		require.NotContains(t, r.stdout, "start accessd again")
		require.Contains(t, r.stderr, "store is behind")
		require.Contains(t, r.stderr, "accessd recover --accept-rollback")
	}
	r = runAccessd(t, "recover", "--config", in.cfg, "--recovery-key-file", in.keyFile, "--accept-rollback")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "start accessd again")
	in.serveWorks(t)
}

// TestCrashKBSlotsFilled: other programs (tpm2-tools, which flush nothing
// on swtpm) fill its object slots and take sessions; `accessd check`
// names the leftovers, that the slots are full, and the commands that
// free them; serve starts, flushing them, and logs how many.
func TestCrashKBSlotsFilled(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tpm2_createprimary"); err != nil {
		t.Skip("tpm2-tools are not installed (apt-get install tpm2-tools)")
	}
	port := freePort(t)
	sealtest.StartSwtpm(t, t.TempDir(), port)
	in := newKBInstall(t, port)
	ctx := t.TempDir()
	for i := range 3 {
		tpmTool(t, port, "tpm2_createprimary", "-C", "o", "-G", "ecc", "-c", filepath.Join(ctx, fmt.Sprintf("p%d.ctx", i)))
	}
	tpmTool(t, port, "tpm2_startauthsession", "-S", filepath.Join(ctx, "s.ctx"))

	r := runAccessd(t, "check", "--config", in.cfg)
	require.Contains(t, r.stdout, "3 transient objects and 1 session are loaded in the TPM by programs that are gone")
	require.Contains(t, r.stdout, "slots are full")
	require.Contains(t, r.stdout, fmt.Sprintf("tpm2_flushcontext -T swtpm:host=127.0.0.1,port=%d --transient-object", port))

	log := in.serveWorks(t)
	require.Contains(t, log, "seal.leftovers_flushed")
	require.Contains(t, log, `"event":"seal.leftovers_flushed","objects":3,"sessions":1`)
	requireLeftovers0(t, port)
	r = runAccessd(t, "check", "--config", in.cfg)
	require.NotContains(t, r.stdout, "programs that are gone")
}

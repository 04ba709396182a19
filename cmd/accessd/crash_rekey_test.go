package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rekeyEnv runs accessd args with extra environment (the crash hook) and
// stdout going to stdout (nil: a buffer).
func rekeyEnv(t *testing.T, env []string, stdout *os.File, args ...string) result {
	t.Helper()
	cmd := accessd(args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode() // -1 when a signal ended it
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code}
}

// keyFile writes secret to a new 0600 file and returns its name.
func keyFile(t *testing.T, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(f, []byte(secret+"\n"), 0o600))
	return f
}

// keyFlags hands over a key file, or one file per share.
func keyFlags(files ...string) []string {
	if len(files) == 1 && !strings.HasSuffix(files[0], ".share") {
		return []string{"--recovery-key-file", files[0]}
	}
	var args []string
	for _, f := range files {
		args = append(args, "--recovery-share-file", f)
	}
	return args
}

// shareFiles writes each share printed in out to its own file.
func shareFiles(t *testing.T, out string) []string {
	t.Helper()
	ms := shareRE.FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, ms, "no shares in:\n%s", out)
	dir := t.TempDir()
	files := make([]string, len(ms))
	for i, m := range ms {
		files[i] = filepath.Join(dir, fmt.Sprintf("%d.share", i+1))
		require.NoError(t, os.WriteFile(files[i], []byte(m[1]+"\n"), 0o600))
	}
	return files
}

// rekeyHost is one data dir on swtpm with the commands a crash test runs
// against it.
type rekeyHost struct {
	t    *testing.T
	cfg  string
	sock string // admin socket
	data string
}

func (h *rekeyHost) run(env []string, args ...string) result {
	h.t.Helper()
	return rekeyEnv(h.t, env, nil, append(append([]string{args[0]}, "--config", h.cfg), args[1:]...)...)
}

// checkKey runs recover --check-key and returns what it said; want is
// "OLD", "NEW", "in effect" or "" (refused: the key opens nothing).
func (h *rekeyHost) checkKey(want string, key ...string) {
	h.t.Helper()
	r := h.run(nil, append([]string{"recover", "--check-key"}, keyFlags(key...)...)...)
	if want == "" {
		require.Equal(h.t, 1, r.code, "check-key should refuse: %s", r.stdout)
		require.Contains(h.t, r.stderr, "wrong recovery key")
		return
	}
	require.Equal(h.t, 0, r.code, r.stderr)
	require.Contains(h.t, r.stdout, "it is the "+want)
}

// starts asserts that the daemon starts on the host's TPM and stops cleanly.
func (h *rekeyHost) starts() {
	h.t.Helper()
	s := startServe(h.t, 90*time.Second, "--config", h.cfg)
	s.stop(h.t)
}

// recovers asserts that a full recover (re-seal to the TPM) works with key.
func (h *rekeyHost) recovers(key ...string) {
	h.t.Helper()
	r := h.run(nil, append([]string{"recover"}, keyFlags(key...)...)...)
	require.Equal(h.t, 0, r.code, r.stderr)
}

func newRekeyHost(t *testing.T, initArgs ...string) (*rekeyHost, string) {
	sh := newSwtpmHost(t)
	h := &rekeyHost{t: t, cfg: sh.cfg, sock: sh.sock, data: sh.data}
	r := h.run(nil, append([]string{"init"}, initArgs...)...)
	require.Equal(t, 0, r.code, r.stderr)
	return h, r.stdout
}

const crashAt = "ACCESSD_TEST_CRASH_AT="

// TestCrashRekeyPipe: `accessd rekey-recovery … | true`, the reader gone
// before the key is printed, is an error that says what happened (never a
// silent SIGPIPE, exit 141), and the old key still opens root.recovery;
// the documented next step (--abort with the old key) ends the pending
// rekey and a new rekey goes through.
func TestCrashRekeyPipe(t *testing.T) {
	t.Parallel()
	h, out := newRekeyHost(t)
	old, _ := secretsIn(t, out)
	oldF := keyFile(t, old)

	// A pipe whose reader is already closed: every write gets EPIPE.
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	pr.Close()
	r := rekeyEnv(t, nil, pw, "rekey-recovery", "--config", h.cfg, "--recovery-key-file", oldF)
	pw.Close()
	require.Equal(t, 1, r.code, "an unread stdout is an error, not SIGPIPE: %s", r.stderr)
	require.Contains(t, r.stderr, "broken pipe")
	require.Contains(t, r.stderr, "root.recovery still opens with the OLD key")
	require.Contains(t, r.stderr, "accessd rekey-recovery --abort --recovery-key-file OLD")
	requireNoRecoveryKey(t, r.stderr)
	h.checkKey("OLD", oldF)

	r = h.run(nil, "rekey-recovery", "--recovery-key-file", oldF)
	require.NotEqual(t, 0, r.code, "a second rekey while one is pending")
	require.Contains(t, r.stderr, "a rekey is already pending")
	require.Contains(t, r.stderr, "accessd rekey-recovery --finish")
	r = h.run(nil, "rekey-recovery", "--abort", "--recovery-key-file", oldF)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "rekey-recovery aborted")
	h.checkKey("key in effect", oldF)

	// The shell's own `| true`, racing the reader's exit: whether the
	// print got into the pipe (exit 0) or not (exit 1), the run never
	// dies of SIGPIPE and the old key opens root.recovery.
	for range 3 {
		sh := exec.Command("bash", "-c", `"$0" rekey-recovery --config "$1" --recovery-key-file "$2" | true; exit ${PIPESTATUS[0]}`, os.Args[0], h.cfg, oldF)
		sh.Env = append(os.Environ(), "ACCESSD_E2E_MAIN=1")
		shOut, err := sh.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		require.Contains(t, []int{0, 1}, code, "never SIGPIPE (141): %s", shOut)
		if code == 1 {
			require.Contains(t, string(shOut), "root.recovery still opens with the OLD key")
		}
		h.checkKey("OLD", oldF)
		r = h.run(nil, "rekey-recovery", "--abort", "--recovery-key-file", oldF)
		require.Equal(t, 0, r.code, r.stderr)
	}
	h.starts()

	r = h.run(nil, "rekey-recovery", "--recovery-key-file", oldF)
	require.Equal(t, 0, r.code, r.stderr)
	m := recoveryRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	h.checkKey("NEW", keyFile(t, m[1]))
}

// requireNoRecoveryKey: no recovery key or share in s.
func requireNoRecoveryKey(t *testing.T, s string) {
	t.Helper()
	require.Nil(t, recoveryRE.FindStringIndex(s), "a recovery key in:\n%s", s)
	require.NotContains(t, s, "ACCESSD-SHARE-")
}

// TestCrashRekeyKilled: rekey-recovery, --finish and --abort killed with
// SIGKILL just after each durable step (ACCESSD_TEST_CRASH_AT), then the
// documented next step: at every point a key the operator holds opens
// root.recovery, the daemon starts on swtpm, and after --finish only the
// new key works. With a plain key and with 3-of-2 shares.
func TestCrashRekeyKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		split []string
	}{
		{"key", nil},
		{"shares", []string{"--recovery-shares", "3", "--recovery-threshold", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, out := newRekeyHost(t, tc.split...)
			var old []string
			if tc.split == nil {
				k, _ := secretsIn(t, out)
				old = []string{keyFile(t, k)}
			} else {
				old = shareFiles(t, out)[1:] // any two
			}
			// newKey pulls the new key from what a rekey delivered.
			newKey := func(text string) []string {
				if tc.split == nil {
					m := recoveryRE.FindStringSubmatch(text)
					require.NotNil(t, m, text)
					return []string{keyFile(t, m[1])}
				}
				return shareFiles(t, text)[:2]
			}
			rekey := func(env []string, extra ...string) result {
				args := append(append([]string{"rekey-recovery"}, keyFlags(old...)...), tc.split...)
				return h.run(env, append(args, extra...)...)
			}

			// Killed after both wraps are written, before the key is
			// shown: nobody has the new key; the old one opens, the
			// daemon starts, a second rekey is refused naming --finish,
			// and --abort with the old key ends it.
			r := rekey([]string{crashAt + "rekey-pending"})
			require.Equal(t, -1, r.code, "killed: %s", r.stderr)
			requireNoRecoveryKey(t, r.stdout+r.stderr)
			h.checkKey("OLD", old...)
			h.starts()
			r = rekey(nil)
			require.NotEqual(t, 0, r.code)
			require.Contains(t, r.stderr, "a rekey is already pending")
			require.Contains(t, r.stderr, "accessd rekey-recovery --finish")
			require.Contains(t, r.stderr, "accessd rekey-recovery --abort")
			r = h.run([]string{crashAt + "rekey-aborted"}, append([]string{"rekey-recovery", "--abort"}, keyFlags(old...)...)...)
			require.Equal(t, -1, r.code, "killed: %s", r.stderr)
			h.checkKey("key in effect", old...) // the abort was written before the kill
			h.starts()
			r = h.run(nil, append([]string{"rekey-recovery", "--abort"}, keyFlags(old...)...)...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "no rekey-recovery is pending")
			h.recovers(old...)

			// Killed after the key was delivered in full (to --out for
			// the plain key): both keys open; --finish with the old key
			// is refused; check-key then --finish with the new one
			// (killed after its write, then run again) leaves the new
			// key alone working.
			var extra []string
			outFile := filepath.Join(t.TempDir(), "new-key.txt")
			if tc.split == nil {
				extra = []string{"--out", outFile}
			}
			r = rekey([]string{crashAt + "rekey-delivered"}, extra...)
			require.Equal(t, -1, r.code, "killed: %s", r.stderr)
			delivered := r.stdout
			if tc.split == nil {
				requireNoRecoveryKey(t, r.stdout)
				require.Contains(t, r.stdout, outFile)
				st, err := os.Stat(outFile)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
				b, err := os.ReadFile(outFile)
				require.NoError(t, err)
				delivered = string(b)
			}
			require.Contains(t, delivered, "accessd rekey-recovery --finish")
			requireNoRecoveryKey(t, r.stderr)
			nk := newKey(delivered)
			requireNotStored(t, h.data, []byte(strings.TrimSpace(readFile(t, nk[0]))))
			h.checkKey("OLD", old...)
			h.checkKey("NEW", nk...)
			h.starts()
			r = h.run(nil, append([]string{"rekey-recovery", "--finish"}, keyFlags(old...)...)...)
			require.NotEqual(t, 0, r.code)
			require.Contains(t, r.stderr, "this is the OLD key")
			h.checkKey("OLD", old...)
			r = h.run([]string{crashAt + "rekey-finished"}, append([]string{"rekey-recovery", "--finish"}, keyFlags(nk...)...)...)
			require.Equal(t, -1, r.code, "killed: %s", r.stderr)
			h.checkKey("key in effect", nk...) // the finish was written before the kill
			h.starts()
			r = h.run(nil, append([]string{"rekey-recovery", "--finish"}, keyFlags(nk...)...)...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "no rekey-recovery is pending")
			h.checkKey("", old...)
			h.checkKey("key in effect", nk...)
			r = h.run(nil, append([]string{"recover"}, keyFlags(old...)...)...)
			require.NotEqual(t, 0, r.code, "the old key recovers nothing after --finish")
			require.Contains(t, r.stderr, "wrong recovery key")
			h.recovers(nk...)
			h.starts()
			if tc.split == nil {
				// --out never overwrites: refused before anything changes.
				r = h.run(nil, "rekey-recovery", "--recovery-key-file", nk[0], "--out", outFile)
				require.NotEqual(t, 0, r.code)
				require.Contains(t, r.stderr, "never overwrites")
				h.checkKey("key in effect", nk...)
			}
		})
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// TestRekeyPendingBackupRestores: a backup taken while a rekey is pending
// carries both wraps; it restores on a new TPM with the old key and with
// the new one, the restored data dir has the same rekey pending, and it
// starts.
func TestRekeyPendingBackupRestores(t *testing.T) {
	t.Parallel()
	ctl := buildAccessctl(t)
	h, out := newRekeyHost(t)
	old, _ := secretsIn(t, out)
	oldF := keyFile(t, old)
	r := h.run(nil, "rekey-recovery", "--recovery-key-file", oldF)
	require.Equal(t, 0, r.code, r.stderr)
	m := recoveryRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	newF := keyFile(t, m[1])

	s := startServe(t, 90*time.Second, "--config", h.cfg)
	backup := filepath.Join(t.TempDir(), "pending.backup")
	ctlRun(t, ctl, h.sock, "backup", "-f", backup)
	s.stop(t)

	for _, tc := range []struct {
		name, key, says string
	}{
		{"old key", oldF, "OLD"},
		{"new key", newF, "NEW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sh := newSwtpmHost(t)
			nh := &rekeyHost{t: t, cfg: sh.cfg, data: sh.data}
			r := nh.run(nil, "restore", "--backup", backup, "--recovery-key-file", tc.key)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "a rekey-recovery was pending when the backup was taken")
			nh.checkKey("OLD", oldF)
			nh.checkKey("NEW", newF)
			nh.starts()
			r = nh.run(nil, "rekey-recovery", "--finish", "--recovery-key-file", newF)
			require.Equal(t, 0, r.code, r.stderr)
			nh.checkKey("", oldF)
		})
	}
}

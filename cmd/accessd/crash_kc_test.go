package main

import (
	"encoding/json"
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

// What `accessd init --dev` printed for the data dir that wrote
// testdata/backup-v1 (a dev fixture: that data dir is gone, and the key
// opens nothing else).
const backupV1RecoveryKey = "FHSOLF-7DQ3QA-3N7IDR-AE4JOW-XC22EW-ATMP4X-QMZENC-JKGVKM-PEQGCB-WS56EA"

// devService is a --dev data dir with a serve running on it.
type devService struct {
	data, cfg, sock string
	srv             *served
}

func startDev(t *testing.T, data string) *devService {
	t.Helper()
	c := writeDevConfig(t, "")
	s := startServe(t, 90*time.Second, c.serveArgs(data)...)
	return &devService{data: data, cfg: c.file, sock: c.sock, srv: s}
}

// auditCount returns how many entries of type typ the service's log holds.
func auditCount(t *testing.T, ctl, sock, typ string) int {
	t.Helper()
	var es []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(ctlRun(t, ctl, sock, "-o", "json", "audit", "list", "--type", typ)), &es))
	return len(es)
}

// backupParts splits a backup file into its header (tag included) and
// its store stream, by the version-2 layout: magic, version, time,
// recovery length, recovery block, 16-byte id, 32-byte tag.
func backupParts(t *testing.T, file []byte) (hdr, stream []byte) {
	t.Helper()
	require.Equal(t, "ACCESSD-BACKUP\n", string(file[:15]))
	require.Equal(t, byte(2), file[15], "format version")
	end := 15 + 1 + 8 + 2 + (int(file[24])<<8 | int(file[25])) + 16 + 32
	return file[:end], file[end:]
}

// TestCrashBackupHeaderSwap: the header of a later backup on the stream
// of an earlier one (what once restored silently as "a backup taken" at
// the later time, without what was written in between), and the other
// way round, is refused with a message that says the parts do not belong
// together, and leaves no data dir; each file as written restores.
func TestCrashBackupHeaderSwap(t *testing.T) {
	t.Parallel()
	ctl := buildAccessctl(t)
	data := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", data)
	require.Equal(t, 0, r.code, r.stderr)
	recovery, _ := secretsIn(t, r.stdout)
	svc := startDev(t, data)
	ctlRun(t, ctl, svc.sock, "user", "create", "--username", "alice", "--email", "alice@example.com")
	tmp := t.TempDir()
	early, late := filepath.Join(tmp, "early.backup"), filepath.Join(tmp, "late.backup")
	ctlRun(t, ctl, svc.sock, "backup", "-f", early)
	time.Sleep(1100 * time.Millisecond) // a later creation time in the header
	ctlRun(t, ctl, svc.sock, "user", "create", "--username", "bob", "--email", "bob@example.com")
	ctlRun(t, ctl, svc.sock, "backup", "-f", late)
	svc.srv.stop(t)

	keyFile := filepath.Join(tmp, "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(recovery+"\n"), 0o600))

	eb, err := os.ReadFile(early)
	require.NoError(t, err)
	lb, err := os.ReadFile(late)
	require.NoError(t, err)
	eh, es := backupParts(t, eb)
	lh, ls := backupParts(t, lb)
	for name, file := range map[string][]byte{
		"late header on early stream": append(append([]byte{}, lh...), es...),
		"early header on late stream": append(append([]byte{}, eh...), ls...),
	} {
		f := filepath.Join(tmp, strings.ReplaceAll(name, " ", "-"))
		require.NoError(t, os.WriteFile(f, file, 0o600))
		d := filepath.Join(t.TempDir(), "restored")
		r := runAccessd(t, "restore", "--dev", "--backup", f, "--recovery-key-file", keyFile, "--data-dir", d)
		require.NotEqual(t, 0, r.code, "%s was restored:\n%s", name, r.stdout)
		require.Contains(t, r.stderr, "do not belong together", name)
		require.Contains(t, r.stderr, "nothing was written", name)
		require.NotContains(t, r.stdout+r.stderr, recovery)
		_, err := os.Stat(d)
		require.ErrorIs(t, err, os.ErrNotExist, "%s: a refused restore leaves no data dir", name)
	}
	for _, f := range []string{early, late} {
		r := runAccessd(t, "restore", "--dev", "--backup", f, "--recovery-key-file", keyFile, "--data-dir", filepath.Join(t.TempDir(), "restored"))
		require.Equal(t, 0, r.code, "%s: %s", f, r.stderr)
		require.NotContains(t, r.stderr, "restore_unbound_header")
	}
}

// TestCrashBackupV1StillRestores: a backup written by the build before
// format 2 (testdata/backup-v1) restores, with a warning that its header
// is not bound, into a service that starts with its user and a verified
// audit chain that records the restore.
func TestCrashBackupV1StillRestores(t *testing.T) {
	t.Parallel()
	ctl := buildAccessctl(t)
	keyFile := filepath.Join(t.TempDir(), "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(backupV1RecoveryKey+"\n"), 0o600))
	d := filepath.Join(t.TempDir(), "restored")
	r := runAccessd(t, "restore", "--dev", "--backup", "testdata/backup-v1/carol.accessd-backup", "--recovery-key-file", keyFile, "--data-dir", d)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, `"event":"daemon.restore_unbound_header"`)
	require.Contains(t, r.stderr, "not bound to its store data")
	require.NotContains(t, r.stdout+r.stderr, backupV1RecoveryKey)
	svc := startDev(t, d)
	defer svc.srv.stop(t)
	require.Contains(t, ctlRun(t, ctl, svc.sock, "user", "list"), "carol")
	require.Regexp(t, `chain:\s+ok`, ctlRun(t, ctl, svc.sock, "audit", "verify"))
	require.Equal(t, 1, auditCount(t, ctl, svc.sock, "store.restored"))
}

// TestCrashRestoreAtEachStep kills `accessd restore` (SIGKILL, through
// ACCESSD_TEST_CRASH_AT) right after each of its durable steps, on swtpm
// with the production path. Then: serve and recover --accept-rollback
// refuse the data dir (exit 4), naming the exact restore command; that
// command, run as named, starts over and completes; the service starts
// with every user acknowledged before the backup, the audit chain
// verifies and holds exactly one store.restored entry, and no file in the
// data dir holds the recovery key.
func TestCrashRestoreAtEachStep(t *testing.T) {
	t.Parallel()
	ctl := buildAccessctl(t)
	a, recovery, keyFile := initSwtpmHost(t)
	cfgA, sockA := a.cfg, a.sock
	s := startServe(t, 60*time.Second, "--config", cfgA)
	ctlRun(t, ctl, sockA, "user", "create", "--username", "alice", "--email", "alice@example.com")
	ctlRun(t, ctl, sockA, "user", "create", "--username", "bob", "--email", "bob@example.com")
	want := contents(t, ctl, sockA)
	backup := filepath.Join(t.TempDir(), "accessd.backup")
	ctlRun(t, ctl, sockA, "backup", "-f", backup)
	s.stop(t)
	a.stopTPM()

	for _, step := range []string{"restore.marked", "restore.sealed", "restore.recovery", "restore.store", "restore.bound", "restore.recorded"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			h := newSwtpmHost(t)
			cfg, sock, data := h.cfg, h.sock, h.data

			cmd := accessd("restore", "--config", cfg, "--backup", backup, "--recovery-key-file", keyFile)
			cmd.Env = append(cmd.Env, "ACCESSD_TEST_CRASH_AT="+step)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "restore was not killed at %s:\n%s", step, out)
			ws, _ := ee.Sys().(syscall.WaitStatus)
			require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "restore ended with %v, want SIGKILL at %s:\n%s", ee, step, out)

			next := fmt.Sprintf("accessd restore --data-dir %s --backup %s --recovery-key-file KEY", data, backup)
			r := serveRefused(t, "--config", cfg)
			require.Equal(t, exitNotInit, r.code, r.stderr)
			require.Contains(t, r.stderr, next)
			r = runAccessd(t, "recover", "--config", cfg, "--accept-rollback", "--recovery-key-file", keyFile)
			require.Equal(t, exitNotInit, r.code, "recover --accept-rollback must not bind a half-restored store (no store.restored entry): %s", r.stderr)
			require.Contains(t, r.stderr, next)

			r = runAccessd(t, "restore", "--data-dir", data, "--config", cfg, "--backup", backup, "--recovery-key-file", keyFile)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stderr, `"event":"daemon.restore_restarted"`)
			require.NotContains(t, r.stdout+r.stderr, recovery)
			_, err = os.Stat(filepath.Join(data, ".restore-unfinished"))
			require.ErrorIs(t, err, os.ErrNotExist)

			s := startServe(t, 60*time.Second, "--config", cfg)
			defer s.stop(t)
			require.Equal(t, want, contents(t, ctl, sock))
			require.Regexp(t, `chain:\s+ok`, ctlRun(t, ctl, sock, "audit", "verify"))
			require.Equal(t, 1, auditCount(t, ctl, sock, "store.restored"))
			requireNotStored(t, data, []byte(recovery))
		})
	}
}

// TestCrashBackupPartialRemoved: `accessctl backup -f` SIGKILLed while it
// waits for the stream leaves its 0-byte .NAME.partial-N file; the next
// backup to the same target removes it and says so, and leaves alone a
// partial file still locked by a live backup and files that only look
// alike.
func TestCrashBackupPartialRemoved(t *testing.T) {
	t.Parallel()
	ctl := buildAccessctl(t)
	svc := startDev(t, filepath.Join(t.TempDir(), "data"))
	defer svc.srv.stop(t)

	// A socket that accepts and never answers: the backup is stuck after
	// it created its partial file, as one is while a large store streams.
	stuck := filepath.Join(daemontest.OpenDir(t), "stuck.sock")
	l, err := net.Listen("unix", stuck)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	out := t.TempDir()
	target := filepath.Join(out, "nightly.backup")
	startStuck := func() *exec.Cmd {
		cmd := exec.Command(ctl, "--socket", stuck, "backup", "-f", target)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	partials := func() []string {
		m, err := filepath.Glob(filepath.Join(out, ".nightly.backup.partial-*"))
		require.NoError(t, err)
		return m
	}
	waitPartials := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for len(partials()) < n {
			require.True(t, time.Now().Before(deadline), "no partial file appeared")
			time.Sleep(20 * time.Millisecond)
		}
	}
	live := startStuck() // runs on: its partial file is in use
	waitPartials(1)
	livePartial := partials()[0]
	killed := startStuck() // leaves the live one alone, then is killed
	waitPartials(2)
	var dead string
	for _, p := range partials() {
		if p != livePartial {
			dead = p
		}
	}
	require.NoError(t, killed.Process.Signal(syscall.SIGKILL))
	killed.Wait()
	fi, err := os.Stat(dead)
	require.NoError(t, err, "the killed backup left its partial file")
	require.Zero(t, fi.Size())
	lookalikes := []string{".nightly.backup.partial-12x", ".nightly.backup.partial-", ".other.backup.partial-123", "nightly.backup.partial-123"}
	for _, n := range lookalikes {
		require.NoError(t, os.WriteFile(filepath.Join(out, n), nil, 0o600))
	}

	o := ctlRun(t, ctl, svc.sock, "backup", "-f", target)
	require.Contains(t, o, "backup written to "+target)
	_, err = os.Stat(dead)
	require.ErrorIs(t, err, os.ErrNotExist, "the killed backup's partial file is removed by the next backup")
	_, err = os.Stat(livePartial)
	require.NoError(t, err, "a running backup's partial file is left alone")
	for _, n := range lookalikes {
		_, err := os.Stat(filepath.Join(out, n))
		require.NoError(t, err, "%s is not a partial file of this target", n)
	}
	live.Process.Kill()
	live.Wait()
}

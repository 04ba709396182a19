package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// adminPost posts JSON to the admin socket (for what accessctl has no
// command for yet: MFA setup, which makes a sealed TOTP seed).
func adminPost(t *testing.T, sock, path, body string, log func() string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Post("http://accessd"+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, log())
}

// TestBackupRestoreOnNewTPM is issue 10's "done when" for backup: on
// swtpm, users, an application and a sealed TOTP seed are made through
// the admin plane, the field keys are rotated, `accessctl backup` writes
// a file; then the TPM and the data dir are gone, and on a fresh swtpm
// and a fresh data dir `accessd restore` with only that file and the
// recovery key brings up a service with the same users and applications
// whose audit chain verifies and records the restore.
func TestBackupRestoreOnNewTPM(t *testing.T) {
	t.Parallel()
	ctl := buildAccessctl(t)
	a, recovery, keyFile := initSwtpmHost(t)
	cfgA, sockA := a.cfg, a.sock

	s := startServe(t, 60*time.Second, "--config", cfgA)
	ctlRun(t, ctl, sockA, "user", "create", "--username", "alice", "--email", "alice@example.com")
	ctlRun(t, ctl, sockA, "user", "create", "--username", "bob", "--email", "bob@example.com")
	ctlRun(t, ctl, sockA, "group", "create", "ops")
	ctlRun(t, ctl, sockA, "app", "create", "--name", "ledger-sync", "--group", "ops")
	adminPost(t, sockA, "/v1/users/alice/mfa/setup", `{"mfaType":"app"}`, s.stderr.String)
	out := ctlRun(t, ctl, sockA, "keys", "rotate-fields")
	require.Regexp(t, `active term:\s+2`, out)
	require.Regexp(t, `re-sealed:\s+[1-9]\d* fields`, out, "alice's TOTP seed was re-sealed")
	want := contents(t, ctl, sockA)
	require.Len(t, want.Users, 3) // admin, alice, bob
	require.Len(t, want.Apps, 1)

	backup := filepath.Join(t.TempDir(), "accessd.backup")
	out = ctlRun(t, ctl, sockA, "backup", "-f", backup)
	require.Contains(t, out, "backup written to "+backup)
	s.stop(t)
	a.stopTPM() // the old machine and its TPM are gone

	// A new machine: fresh swtpm, fresh data dir, only the file and the key.
	b := newSwtpmHost(t)
	cfgB, sockB := b.cfg, b.sock

	// A wrong key is refused and leaves nothing behind.
	otherKey := filepath.Join(t.TempDir(), "other.key")
	ro := runAccessd(t, "init", "--dev", "--data-dir", filepath.Join(t.TempDir(), "other"))
	require.Equal(t, 0, ro.code, ro.stderr)
	other, _ := secretsIn(t, ro.stdout)
	require.NoError(t, os.WriteFile(otherKey, []byte(other), 0o600))
	r := runAccessd(t, "restore", "--config", cfgB, "--backup", backup, "--recovery-key-file", otherKey)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "wrong recovery key")
	require.NotContains(t, r.stderr, other)
	_, err := os.Stat(b.data)
	require.ErrorIs(t, err, os.ErrNotExist, "a refused restore leaves no data dir")

	r = runAccessd(t, "restore", "--config", cfgB, "--backup", backup, "--recovery-key-file", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "audit chain verified")
	require.NotContains(t, r.stdout+r.stderr, recovery)

	// A second restore into the now non-empty data dir is refused up front.
	r2 := runAccessd(t, "restore", "--config", cfgB, "--backup", backup, "--recovery-key-file", keyFile)
	require.NotEqual(t, 0, r2.code)
	require.Contains(t, r2.stderr, "not empty")

	s = startServe(t, 60*time.Second, "--config", cfgB)
	defer s.stop(t)
	require.Equal(t, want, contents(t, ctl, sockB))
	out = ctlRun(t, ctl, sockB, "audit", "verify")
	require.Regexp(t, `chain:\s+ok`, out)
	out = ctlRun(t, ctl, sockB, "audit", "list", "--type", "store.restored")
	require.Contains(t, out, "store.restored")
	out = ctlRun(t, ctl, sockB, "audit", "list", "--type", "keys.rotate_fields")
	require.Contains(t, out, "keys.rotate_fields")
	// The restored store goes on with the rotated term: a backup again works.
	ctlRun(t, ctl, sockB, "backup", "-f", filepath.Join(t.TempDir(), "again.backup"))
	out = ctlRun(t, ctl, sockB, "audit", "list", "--type", "backup.create")
	require.Contains(t, out, "backup.create")
}

var shareRE = regexp.MustCompile(`(?m)^    (ACCESSD-SHARE-[A-Z2-7-]+)\s*$`)

// TestRekeyRecovery: after rekey-recovery the old key is refused by
// recover and the new one works; the command says older backups need
// the old key.
func TestRekeyRecovery(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.Equal(t, 0, r.code, r.stderr)
	oldKey, _ := secretsIn(t, r.stdout)
	oldFile := filepath.Join(t.TempDir(), "old.key")
	require.NoError(t, os.WriteFile(oldFile, []byte(oldKey), 0o600))

	r = runAccessd(t, "rekey-recovery", "--dev", "--data-dir", d, "--recovery-key-file", oldFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "still need the OLD recovery key")
	require.Contains(t, r.stdout, "accessctl backup")
	m := recoveryRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	newKey := m[1]
	require.NotEqual(t, oldKey, newKey)
	require.NotContains(t, r.stderr, newKey)
	newFile := filepath.Join(t.TempDir(), "new.key")
	require.NoError(t, os.WriteFile(newFile, []byte(newKey), 0o600))
	// Until --finish both keys open root.recovery.
	r = runAccessd(t, "recover", "--dev", "--data-dir", d, "--recovery-key-file", oldFile)
	require.Equal(t, 0, r.code, "the old key works until --finish: %s", r.stderr)
	r = runAccessd(t, "rekey-recovery", "--finish", "--dev", "--data-dir", d, "--recovery-key-file", newFile)
	require.Equal(t, 0, r.code, r.stderr)

	r = runAccessd(t, "recover", "--dev", "--data-dir", d, "--recovery-key-file", oldFile)
	require.NotEqual(t, 0, r.code, "the old recovery key must no longer recover")
	require.Contains(t, r.stderr, "wrong recovery key")
	r = runAccessd(t, "rekey-recovery", "--dev", "--data-dir", d, "--recovery-key-file", oldFile)
	require.NotEqual(t, 0, r.code, "nor rekey")
	r = runAccessd(t, "recover", "--dev", "--data-dir", d, "--recovery-key-file", newFile)
	require.Equal(t, 0, r.code, r.stderr)
}

// TestRecoveryShares: init splits the key 3-of-5; any 3 share files
// recover, 2 do not; rekey-recovery takes 3 shares and splits anew.
func TestRecoveryShares(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d, "--recovery-shares", "5", "--recovery-threshold", "3")
	require.Equal(t, 0, r.code, r.stderr)
	ms := shareRE.FindAllStringSubmatch(r.stdout, -1)
	require.Len(t, ms, 5, r.stdout)
	tmp := t.TempDir()
	files := make([]string, 5)
	for i, m := range ms {
		files[i] = filepath.Join(tmp, fmt.Sprintf("share%d", i+1))
		require.NoError(t, os.WriteFile(files[i], []byte(m[1]+"\n"), 0o600))
		require.NotContains(t, r.stderr, m[1])
	}
	withShares := func(cmd string, idx ...int) result {
		args := []string{cmd, "--dev", "--data-dir", d}
		for _, i := range idx {
			args = append(args, "--recovery-share-file", files[i])
		}
		return runAccessd(t, args...)
	}
	for _, set := range [][]int{{0, 1, 2}, {4, 2, 0}, {1, 3, 4}} {
		r := withShares("recover", set...)
		require.Equal(t, 0, r.code, "shares %v: %s", set, r.stderr)
	}
	for _, set := range [][]int{{0, 1}, {3, 4}} {
		r := withShares("recover", set...)
		require.NotEqual(t, 0, r.code, "shares %v", set)
		require.Contains(t, r.stderr, "needs 3")
	}
	// rekey-recovery takes 3 old shares and splits the new key 2-of-3.
	r = runAccessd(t, "rekey-recovery", "--dev", "--data-dir", d, "--recovery-share-file", files[0], "--recovery-share-file", files[2],
		"--recovery-share-file", files[4], "--recovery-shares", "3", "--recovery-threshold", "2")
	require.Equal(t, 0, r.code, r.stderr)
	ns := shareRE.FindAllStringSubmatch(r.stdout, -1)
	require.Len(t, ns, 3, r.stdout)
	for i, m := range ns[:2] {
		require.NoError(t, os.WriteFile(files[i], []byte(m[1]), 0o600))
	}
	r = withShares("recover", 0, 1)
	require.Equal(t, 0, r.code, "two of the new 2-of-3 shares: %s", r.stderr)
	r = withShares("rekey-recovery", 0, 1)
	require.NotEqual(t, 0, r.code, "a second rekey while one is pending")
	r = runAccessd(t, "rekey-recovery", "--finish", "--dev", "--data-dir", d, "--recovery-share-file", files[0], "--recovery-share-file", files[1])
	require.Equal(t, 0, r.code, r.stderr)
	r = withShares("recover", 2, 3, 4)
	require.NotEqual(t, 0, r.code, "old shares no longer recover")
	require.Contains(t, r.stderr, "wrong recovery key")
}

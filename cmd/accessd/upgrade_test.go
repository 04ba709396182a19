package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// What `accessd init --dev` printed when it made testdata/layout1-dev
// (dev fixture, simulator-sealed: no real install's secret).
const (
	layout1AdminPassword = "rT8JCuopzprq3emiUCknoQ9Y"
	layout1RecoveryKey   = "YLYA4K-SDD6EJ-EKNBSM-HMTMPL-X4X4WT-3XB7F2-B2ZVOS-FI5YE3-RPCL2G-5ANIVQ"
)

// TestUpgradeFromLayout1: today's accessd starts on a data dir made by
// the build before this store layout (issue 8 §4): it writes a backup of
// the old store first, migrates, and the admin's password (moved out of
// the user record) still verifies; the backup restores with the recovery
// key into a data dir that migrates again.
func TestUpgradeFromLayout1(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	out, err := exec.Command("cp", "-r", "testdata/layout1-dev", d).CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, exec.Command("chmod", "-R", "go-rwx", d).Run())
	require.NoError(t, os.Remove(filepath.Join(d, "README")))

	c := writeDevConfig(t, "")
	sock := c.sock
	serve := func(dir string) *served { // one after the other, on the config's address
		return startServe(t, 90*time.Second, c.serveArgs(dir)...)
	}
	srv := serve(d)
	backups, err := filepath.Glob(filepath.Join(d, "pre-migration-layout1-*.accessd-backup"))
	require.NoError(t, err)
	require.Len(t, backups, 1, "a backup of the old layout is written before migrating")
	require.Contains(t, srv.stderr.String(), `"event":"store.pre_migration_backup"`)

	ctl := buildAccessctl(t)
	var u api.User
	b, err := exec.Command(ctl, "--socket", sock, "-o", "json", "user", "get", "admin").Output()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &u))
	require.Equal(t, []string{"admin-group"}, u.Groups)
	// The seeded identity grants moved into product "identity" (layout 4).
	var g api.Group
	b, err = exec.Command(ctl, "--socket", sock, "-o", "json", "group", "get", "identity-editor-group").Output()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &g))
	require.NotEmpty(t, g.Permissions)
	for _, p := range g.Permissions {
		require.Equal(t, "identity", p.Product, "identity-editor-group after the upgrade: %+v", g.Permissions)
	}
	require.Contains(t, srv.stderr.String(), `"event":"store.identity_grants"`)
	// The password hash moved to the credential record and still verifies.
	body := fmt.Sprintf(`{"oldPassword":%q,"newPassword":"plum-Harbor-vector-88"}`, layout1AdminPassword)
	code, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH", "--unix-socket", sock,
		"-d", body, "http://accessd/v1/users/"+u.ID+"/update-password").Output()
	require.NoError(t, err)
	require.Equal(t, "204", string(code))
	srv.stop(t)

	// A second start finds the current layout: no second backup.
	serve(d).stop(t)
	again, _ := filepath.Glob(filepath.Join(d, "pre-migration-layout1-*.accessd-backup"))
	require.Len(t, again, 1)

	// The pre-migration backup is a backup like any other: with the
	// recovery key it restores the old store, which migrates again.
	keyFile := filepath.Join(t.TempDir(), "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(layout1RecoveryKey+"\n"), 0o600))
	r2 := filepath.Join(t.TempDir(), "restored")
	res := runAccessd(t, "restore", "--dev", "--backup", backups[0], "--recovery-key-file", keyFile, "--data-dir", r2)
	require.Equal(t, 0, res.code, res.stderr)
	srv = serve(r2)
	require.True(t, strings.Contains(res.stderr+srv.stderr.String(), `"event":"store.migrated"`), "the restored old store migrates (restore opens it to check it)")
	b, err = exec.Command(ctl, "--socket", sock, "-o", "json", "user", "get", "admin").Output()
	require.NoError(t, err)
	srv.stop(t)
}

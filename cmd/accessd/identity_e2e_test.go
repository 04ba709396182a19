package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// TestIdentityOverAccessctl is issue 6's "done when", end to end: the
// real daemon, the real accessctl over the real admin socket, -o json.
func TestIdentityOverAccessctl(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	args, sock, _ := devConfig(t, d, "")
	srv := startServe(t, 90*time.Second, args...)
	_, adminPassword := secretsIn(t, srv.stdout.String())
	ctl := buildAccessctl(t)

	run := func(stdin string, args ...string) ([]byte, string, int) {
		t.Helper()
		c := exec.Command(ctl, append([]string{"--socket", sock, "-o", "json"}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, err := c.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return out, stderr.String(), code
	}
	ok := func(v any, args ...string) []byte {
		t.Helper()
		out, stderr, code := run("", args...)
		require.Equal(t, 0, code, "accessctl %v: %s", args, stderr)
		if v != nil {
			require.NoError(t, json.Unmarshal(out, v), "accessctl %v printed %s", args, out)
		}
		return out
	}

	// Distinctive values, to be looked for in clear afterwards.
	const name, email = "zebulon.quartermaine", "zebulon.q@quartermaine-example.org"
	const group, appName = "xylograph-operators", "xylograph-settlement-engine"

	var u api.CreatedUser
	ok(&u, "user", "create", "--username", name, "--email", email, "--first-name", "Zebulon", "--group", "midaz-viewer-group")
	require.Len(t, u.Password, 24, "a generated password is printed once")

	_, stderr, code := run("abcde\n", "user", "create", "--username", "shorty", "--email", "s@example.org", "--password-stdin")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "AUT-0406", "a 5-character password is refused")

	var g api.Group
	ok(&g, "group", "create", group, "--description", "Settlement operators")
	ok(&g, "group", "grant", group, "--product", "midaz", "--resource", "transactions", "--action", "post")
	require.Equal(t, []api.Permission{{Product: "midaz", Resource: "transactions", Action: "post"}}, g.Permissions)
	ok(nil, "group", "add-member", group, "user:"+name)
	var members []api.Member
	ok(&members, "group", "members", group)
	require.Equal(t, []api.Member{{Kind: "user", ID: u.ID, Name: name}}, members)

	var app api.CreatedApplication
	ok(&app, "app", "create", "--name", appName, "--group", group)
	require.True(t, strings.HasPrefix(app.ClientSecret, "acs_"))
	list := ok(nil, "app", "list")
	require.NotContains(t, string(list), app.ClientSecret, "the secret is never shown again")
	get := ok(nil, "app", "get", app.ClientID)
	require.NotContains(t, string(get), app.ClientSecret)

	var rot api.RotatedSecret
	ok(&rot, "app", "rotate", app.ClientID, "--grace", "1h")
	require.NotEqual(t, app.ClientSecret, rot.ClientSecret)
	require.False(t, rot.PreviousExpiresAt.IsZero(), "the old secret works until the grace period ends")
	var got api.Application
	ok(&got, "app", "get", app.ClientID)
	require.Len(t, got.Secrets, 2, "two live secrets during the grace period")

	var rev api.Review
	ok(&rev, "review")
	names := map[string]bool{}
	for _, s := range append(rev.Users, rev.Applications...) {
		names[s.Name] = true
	}
	require.True(t, names[name] && names[app.ClientID], "the review lists both")

	ok(nil, "user", "logout", u.ID)

	var entries []api.AuditEntry
	ok(&entries, "audit", "list", "--type", "user.create")
	found := false
	for _, e := range entries {
		found = found || e.Target == "user:"+u.ID
	}
	require.True(t, found, "audit list names the new user")
	ok(&entries, "audit", "list", "--type", "user.logout")
	require.Len(t, entries, 1)
	var v api.AuditVerify
	ok(&v, "audit", "verify")
	require.True(t, v.OK, "%+v", v)
	require.Len(t, v.Head, 64)

	srv.stop(t)

	// Nothing distinctive in clear in any file of the data dir, or in
	// the daemon's log.
	needles := [][]byte{[]byte(name), []byte(email), []byte(group), []byte(appName), []byte(u.Password),
		[]byte(app.ClientSecret), []byte(rot.ClientSecret), []byte(adminPassword)}
	requireNotStored(t, d, needles...)
	// Group names are how the log says which group changed; people's
	// names and e-mails, and every secret, never appear in it.
	needles = slices.DeleteFunc(needles, func(n []byte) bool { return string(n) == group })
	logs := srv.stderr.String()
	require.Contains(t, logs, "MESSAGE_ID", "audit entries reach the log as structured lines")
	for _, n := range needles {
		require.NotContains(t, logs, string(n), "the daemon's log holds a distinctive value in clear")
	}
}

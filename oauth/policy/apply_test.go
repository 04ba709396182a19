package policy_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/policy"
)

// TestApplyPolicy: a dry run changes nothing, an apply makes the named
// groups match the file in one transaction, a second apply changes
// nothing, revocation is code too, and a failed apply applies nothing.
func TestApplyPolicy(t *testing.T) {
	t.Parallel()
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{})
	pol := policy.NewApplier(e.Store, e.Service.Groups(), e.Clock.Now)
	ctx := context.Background()
	admin := directorytest.Admin
	alice, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "alice", Email: "alice@example.com"})
	require.NoError(t, err)
	bob, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "bob", Email: "bob@example.com"})
	require.NoError(t, err)
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "fees"})
	require.NoError(t, err)
	file := func(members string, actions string) []byte {
		return []byte(`
[[group]]
name = "payments-ops"
description = "Payments operators"
members = [` + members + `]
[[group.permission]]
product = "midaz"
resource = "accounts"
actions = [` + actions + `]
`)
	}
	first := file(`"user:alice", "user:bob", "app:`+app.ClientID+`"`, `"get", "post"`)
	dry, err := pol.Apply(ctx, admin, first, true)
	require.NoError(t, err)
	require.True(t, dry.DryRun)
	require.NotEmpty(t, dry.Changes)
	_, err = e.Service.Groups().GetGroup("payments-ops")
	require.ErrorIs(t, err, api.ErrNotFound, "a dry run changes nothing")

	res, err := pol.Apply(ctx, admin, first, false)
	require.NoError(t, err)
	require.Equal(t, dry.Changes, res.Changes)
	require.True(t, e.Index.Allowed(bob.ID, "midaz", "accounts", "post"))
	require.True(t, e.Index.Allowed(app.ID, "midaz", "accounts", "get"))

	again, err := pol.Apply(ctx, admin, first, false)
	require.NoError(t, err)
	require.Empty(t, again.Changes, "a second apply of the same file changes nothing")

	// Revocation is code too: bob and post leave the file, and the group.
	res, err = pol.Apply(ctx, admin, file(`"user:alice", "app:`+app.ClientID+`"`, `"get"`), false)
	require.NoError(t, err)
	require.Len(t, res.Changes, 2, "%v", res.Changes)
	require.False(t, e.Index.Allowed(bob.ID, "midaz", "accounts", "get"))
	require.False(t, e.Index.Allowed(alice.ID, "midaz", "accounts", "post"))
	require.True(t, e.Index.Allowed(alice.ID, "midaz", "accounts", "get"))

	// A member that does not exist fails the whole apply.
	_, err = pol.Apply(ctx, admin, file(`"user:alice", "user:nobody"`, `"get"`), false)
	require.ErrorIs(t, err, api.ErrNotFound)
	require.True(t, e.Index.Allowed(app.ID, "midaz", "accounts", "get"), "nothing of a failed apply is applied")
	_, err = pol.Apply(ctx, admin, []byte("[[group]]\nname = \"x\"\nbogus = 1\n"), false)
	require.ErrorIs(t, err, api.ErrUnknownField)
}

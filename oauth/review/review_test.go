package review_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/review"
	"github.com/accessd/accessd/store"
)

// TestReviewFlags: the review flags what an auditor looks for (an admin
// without a second factor, unused accounts, stale credentials,
// applications in the admin group or without groups) and lists the
// machine-to-machine links by product.
func TestReviewFlags(t *testing.T) {
	t.Parallel()
	maxAge := 90 * 24 * time.Hour
	e := directorytest.Open(t, directory.Config{MaxSecretAge: directory.Duration{Duration: maxAge}}, credential.HasherOptions{})
	rv := review.New(e.Store, review.Options{Audit: e.Audit, Index: e.Index, MaxSecretAge: maxAge, Now: e.Clock.Now})
	ctx, admin := context.Background(), directorytest.Admin
	_, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "lonely"})
	require.NoError(t, err)
	boss, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "boss", Groups: []string{"admin-group"}})
	require.NoError(t, err)
	viewer, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "reader", Groups: []string{"midaz-viewer-group"}})
	require.NoError(t, err)
	e.Clock.Add(100 * 24 * time.Hour)
	rev, err := rv.Review(0)
	require.NoError(t, err)
	flags := map[string][]string{}
	for _, s := range append(rev.Users, rev.Applications...) {
		flags[s.Name] = s.Flags
	}
	require.Contains(t, flags["admin"], api.FlagAdminNoMFA)
	require.Contains(t, flags["admin"], api.FlagUnused)
	require.Contains(t, flags["admin"], api.FlagStaleCredential)
	require.Contains(t, flags[boss.ClientID], api.FlagAppInAdminGroup)
	require.Contains(t, flags[boss.ClientID], api.FlagSecretTooOld)
	require.NotContains(t, flags[viewer.ClientID], api.FlagAppNoGroups)
	var links []api.M2MLink
	for _, l := range rev.Links {
		if l.ClientID == viewer.ClientID {
			links = append(links, l)
		}
	}
	require.Equal(t, []api.M2MLink{{ClientID: viewer.ClientID, Product: "midaz", Actions: []string{"get", "head"}}}, links)
	for _, a := range rev.Applications {
		if a.Name != boss.ClientID && a.Name != viewer.ClientID {
			require.Contains(t, a.Flags, api.FlagAppNoGroups)
		}
	}
}

// TestReviewFlagsLookAlikes: a store from before the username rule keeps
// its look-alikes (users named like an application or a record ID, an
// application named like a user); the review flags them rather than
// renaming them, and leaves everyone else unflagged.
func TestReviewFlagsLookAlikes(t *testing.T) {
	t.Parallel()
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{})
	ctx, admin := context.Background(), directorytest.Admin
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "ledger"})
	require.NoError(t, err)
	other, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "temp"})
	require.NoError(t, err)
	_, err = e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "plain"})
	require.NoError(t, err)
	flagged := map[string]bool{}
	for i, name := range []string{app.ClientID, app.ID, "ledger", "3f2c9a1e-5b7d-4c2e-9f10-2a3b4c5d6e7f", "b6e3a7f8d9c0e1f2a3b4", "billing"} {
		u := e.User(t, fmt.Sprintf("look%d", i))
		_, err := e.Store.Users().Update(u.ID, func(u store.User) (store.User, error) { u.Username = name; return u, nil })
		require.NoError(t, err)
		flagged[u.ID] = true
	}
	// An application renamed, past the rule, to a user's name.
	_, err = e.Store.Applications().Update(other.ID, func(a store.Application) (store.Application, error) { a.Name = "Billing"; return a, nil })
	require.NoError(t, err)
	flagged[other.ID] = true
	flagged[app.ID] = true // its client ID, ID and name are usernames
	e.User(t, "ledger-ops")

	rev, err := e.Review.Review(0)
	require.NoError(t, err)
	seen := 0
	for _, s := range append(rev.Users, rev.Applications...) {
		if flagged[s.ID] {
			require.Contains(t, s.Flags, api.FlagLookAlike, "%s %s", s.Kind, s.Name)
			seen++
		} else {
			require.NotContains(t, s.Flags, api.FlagLookAlike, "%s %s", s.Kind, s.Name)
		}
	}
	require.Equal(t, 8, seen, "six users and two applications")
}

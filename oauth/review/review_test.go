package review_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/review"
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

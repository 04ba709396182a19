package directory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
	"github.com/accessd/accessd/oauth/directory"
)

// TestEnrolmentCodeFollowsBearersApplication: a code sent for an
// enrolment on the data plane goes through the default provider of the
// application the bearer's token was issued to; on the admin socket
// (no application) through the category's default.
func TestEnrolmentCodeFollowsBearersApplication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	ca := deliverytest.NewCA(t)
	relayA := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	relayB := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	var b api.Provider
	for i, r := range []*deliverytest.Relay{relayA, relayB} {
		p, err := e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: fmt.Sprintf("relay-%d", i), Category: api.ProviderEmail,
			Host: r.Host, Port: r.Port, From: "accessd@example.test", CAPEM: ca.PEM})
		require.NoError(t, err)
		b = p
	}
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "console"})
	require.NoError(t, err)
	_, err = e.Service.Providers().LinkProvider(ctx, admin, app.ClientID, api.LinkProviderRequest{ProviderID: b.Name})
	require.NoError(t, err)
	l, err := e.Service.Providers().SetAppDefaultProvider(ctx, admin, app.ID, b.ID)
	require.NoError(t, err)
	require.True(t, l.Default)

	u := e.User(t, "tove")
	bearer := change.Actor{Name: "user:" + u.ID, SubjectID: u.ID, ClientID: app.ClientID}
	_, err = e.Enrolment.MFASetup(ctx, bearer, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	relayB.Next(t)
	require.Empty(t, relayA.Mails())
	_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	relayA.Next(t)
	require.Len(t, relayB.Mails(), 1)
}

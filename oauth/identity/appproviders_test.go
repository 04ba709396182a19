package identity_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
	"github.com/accessd/accessd/oauth/identity"
	"github.com/accessd/accessd/store"
)

// TestMigrateProviders: providers stored before IDs and defaults existed
// get an ID each; a category with one provider makes it its default; a
// category with several gets none, and the log names the command. A
// second run changes nothing.
func TestMigrateProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, identity.Config{})
	for _, p := range []store.Provider{
		{Name: "relay", Category: api.ProviderEmail, Type: api.ProviderSMTP, Host: "mail.example.internal", Port: 587, From: "a@example.internal"},
		{Name: "sms-a", Category: api.ProviderSMS, Type: api.ProviderHTTP, URL: "https://sms-a.example.internal/send"},
		{Name: "sms-b", Category: api.ProviderSMS, Type: api.ProviderHTTP, URL: "https://sms-b.example.internal/send"},
	} {
		_, err := e.st.Providers().Create(p)
		require.NoError(t, err)
	}
	var logs bytes.Buffer
	svc, err := identity.New(e.st, identity.Config{}, identity.Options{Audit: e.log, Index: e.idx, Now: e.clock.Now,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	require.NoError(t, svc.Providers().MigrateProviders(context.Background()))
	first, err := svc.Providers().ListProviders()
	require.NoError(t, err)
	defaults := map[string]bool{}
	for _, p := range first {
		require.Regexp(t, `^[0-9a-f-]{36}$`, p.ID, p.Name)
		defaults[p.Name] = p.Default
	}
	require.Equal(t, map[string]bool{"relay": true, "sms-a": false, "sms-b": false}, defaults)
	require.Contains(t, logs.String(), "accessctl provider set-default")
	require.Contains(t, logs.String(), "category=SMS")

	require.NoError(t, svc.Providers().MigrateProviders(context.Background()))
	again, err := svc.Providers().ListProviders()
	require.NoError(t, err)
	for i := range again {
		require.Equal(t, first[i].ID, again[i].ID, "IDs are given once")
		require.Equal(t, first[i].Default, again[i].Default)
	}
}

// TestProviderAddressing: a provider is found by ID or by name; a name
// shaped like an ID is refused, so the two never collide.
func TestProviderAddressing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, identity.Config{})
	ctx := context.Background()
	p, err := e.svc.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "relay", Category: api.ProviderEmail, Host: "mail.example.internal", From: "a@example.internal"})
	require.NoError(t, err)
	for _, key := range []string{p.ID, "relay"} {
		got, err := e.svc.Providers().GetProvider(key)
		require.NoError(t, err)
		require.Equal(t, p.ID, got.ID)
	}
	_, err = e.svc.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "0b9e2f4c-5d6a-4e7b-8c9d-0e1f2a3b4c5d", Category: api.ProviderEmail, Host: "h", From: "a@example.internal"})
	require.ErrorIs(t, err, api.ErrInvalidField)
	_, err = e.svc.Providers().GetProvider("0b9e2f4c-5d6a-4e7b-8c9d-0e1f2a3b4c5d")
	require.ErrorIs(t, err, api.ErrNotFound)
}

// TestEnrolmentCodeFollowsBearersApplication: a code sent for an
// enrolment on the data plane goes through the default provider of the
// application the bearer's token was issued to; on the admin socket
// (no application) through the category's default.
func TestEnrolmentCodeFollowsBearersApplication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, identity.Config{})
	ctx := context.Background()
	ca := deliverytest.NewCA(t)
	relayA := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	relayB := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	var b api.Provider
	for i, r := range []*deliverytest.Relay{relayA, relayB} {
		p, err := e.svc.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: fmt.Sprintf("relay-%d", i), Category: api.ProviderEmail,
			Host: r.Host, Port: r.Port, From: "accessd@example.test", CAPEM: ca.PEM})
		require.NoError(t, err)
		b = p
	}
	app, err := e.svc.CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "console"})
	require.NoError(t, err)
	_, err = e.svc.Providers().LinkProvider(ctx, admin, app.ClientID, api.LinkProviderRequest{ProviderID: b.Name})
	require.NoError(t, err)
	l, err := e.svc.Providers().SetAppDefaultProvider(ctx, admin, app.ID, b.ID)
	require.NoError(t, err)
	require.True(t, l.Default)

	u := e.user(t, "tove")
	bearer := identity.Actor{Name: "user:" + u.ID, SubjectID: u.ID, ClientID: app.ClientID}
	_, err = e.svc.MFASetup(ctx, bearer, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	relayB.Next(t)
	require.Empty(t, relayA.Mails())
	_, err = e.svc.MFASetup(ctx, admin, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	relayA.Next(t)
	require.Len(t, relayB.Mails(), 1)
}

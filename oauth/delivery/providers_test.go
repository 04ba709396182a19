package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/store"
)

var admin = directorytest.Admin

// TestMigrateProviders: providers stored before IDs and defaults existed
// get an ID each; a category with one provider makes it its default; a
// category with several gets none, and the log names the command. A
// second run changes nothing.
func TestMigrateProviders(t *testing.T) {
	t.Parallel()
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{})
	for _, p := range []store.Provider{
		{Name: "relay", Category: api.ProviderEmail, Type: api.ProviderSMTP, Host: "mail.example.internal", Port: 587, From: "a@example.internal"},
		{Name: "sms-a", Category: api.ProviderSMS, Type: api.ProviderHTTP, URL: "https://sms-a.example.internal/send"},
		{Name: "sms-b", Category: api.ProviderSMS, Type: api.ProviderHTTP, URL: "https://sms-b.example.internal/send"},
	} {
		_, err := e.Store.Providers().Create(p)
		require.NoError(t, err)
	}
	var logs bytes.Buffer
	svc, err := directory.New(e.Store, directory.Config{}, directory.Options{Audit: e.Audit, Index: e.Index, Now: e.Clock.Now,
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
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{})
	ctx := context.Background()
	p, err := e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "relay", Category: api.ProviderEmail, Host: "mail.example.internal", From: "a@example.internal"})
	require.NoError(t, err)
	for _, key := range []string{p.ID, "relay"} {
		got, err := e.Service.Providers().GetProvider(key)
		require.NoError(t, err)
		require.Equal(t, p.ID, got.ID)
	}
	_, err = e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "0b9e2f4c-5d6a-4e7b-8c9d-0e1f2a3b4c5d", Category: api.ProviderEmail, Host: "h", From: "a@example.internal"})
	require.ErrorIs(t, err, api.ErrInvalidField)
	_, err = e.Service.Providers().GetProvider("0b9e2f4c-5d6a-4e7b-8c9d-0e1f2a3b4c5d")
	require.ErrorIs(t, err, api.ErrNotFound)
}

// FuzzProviderRequest runs provider bodies, as a client sends them,
// through the strict decoder and CreateProvider over a real store:
// nothing panics, and whatever is stored shows no secret.
func FuzzProviderRequest(f *testing.F) {
	f.Add(`{"name":"relay","category":"Email","host":"mail.example","from":"a@example.com","clientSecret":"s3cret-XYZ"}`)
	f.Add(`{"name":"sms","category":"SMS","type":"twilio","clientId":"AC1","from":"+15550000000","clientSecret":"s3cret-XYZ"}`)
	f.Add(`{"name":"gw","category":"SMS","url":"https://gw.example/send","template":"{\"to\":\"{{phone}}\",\"m\":\"{{message}}\"}","authHeader":"X-Key","clientSecret":"s3cret-XYZ"}`)
	f.Add(`{"name":"x","category":"Email","caPem":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}`)
	e := directorytest.Open(f, directory.Config{}, credential.HasherOptions{})
	f.Fuzz(func(t *testing.T, body string) {
		var req api.CreateProviderRequest
		if api.DecodeJSON(strings.NewReader(body), &req) != nil {
			return
		}
		p, err := e.Service.Providers().CreateProvider(context.Background(), admin, req)
		if err != nil {
			return
		}
		defer e.Service.Providers().DeleteProvider(context.Background(), admin, p.Name)
		got, err := e.Service.Providers().GetProvider(p.Name)
		require.NoError(t, err)
		out, err := json.Marshal(got)
		require.NoError(t, err)
		require.NotContains(t, string(out), `"clientSecret"`, "provider view %s", out)
		if req.ClientSecret != "" {
			require.True(t, got.ClientSecretSet, "provider view %s", out)
		}
	})
}

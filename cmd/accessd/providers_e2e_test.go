package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
)

// TestDeliveryFollowsDefaultsEndToEnd: with two e-mail relays, a user's
// code goes through the default provider of the application the user
// signs in through, else through the category's default (the first
// provider of a category, then whichever `accessctl provider set-default`
// names); with no default the code is not sent and the answer names the
// command. Providers are addressed by ID or name; linking, unlinking and
// defaults are audited.
func TestDeliveryFollowsDefaultsEndToEnd(t *testing.T) {
	t.Parallel()
	ca := deliverytest.NewCA(t)
	relayA := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	relayB := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	caFile := filepath.Join(t.TempDir(), "site-ca.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(ca.PEM), 0o600))
	p := startDevDaemon(t, "[delivery]\nallow_hosts = [\"127.0.0.0/8\"]\n") // the relays listen on loopback

	var a, b api.Provider
	for _, r := range []struct {
		name  string
		relay *deliverytest.Relay
		out   *api.Provider
	}{{"relay-a", relayA, &a}, {"relay-b", relayB, &b}} {
		p.accessctl(r.out, "", "provider", "create", "--name", r.name, "--category", "Email", "--host", r.relay.Host,
			"--port", fmt.Sprint(r.relay.Port), "--from", "accessd@example.test", "--ca-file", caFile)
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, r.out.ID)
	}
	require.True(t, a.Default, "the first provider of a category is its default")
	require.False(t, b.Default, "a second one is not, until chosen")
	var got api.Provider
	p.accessctl(&got, "", "provider", "get", b.ID)
	require.Equal(t, "relay-b", got.Name, "a provider is addressed by ID")

	const password = "amber-Lattice-violin-52"
	var console api.CreatedApplication
	p.accessctl(&console, "", "app", "create", "--name", "console")
	codeFrom := func(r *deliverytest.Relay) string {
		t.Helper()
		m := r.Next(t)
		c := codeIn.FindStringSubmatch(m.Data)
		require.NotNil(t, c, m.Data)
		return c[1]
	}
	// user makes a user whose e-mail factor is enrolled on the admin
	// socket (no application: the category's default delivers).
	user := func(name string, via *deliverytest.Relay) {
		t.Helper()
		var u api.CreatedUser
		p.accessctl(&u, password+"\n", "user", "create", "--username", name, "--email", name+"@example.test", "--password-stdin")
		code, body, err := p.call("POST", "/v1/users/"+u.ID+"/mfa/setup", map[string]string{"mfaType": "email"}, nil)
		require.NoError(t, err)
		require.Equal(t, 200, code, body)
		code, body, err = p.call("POST", "/v1/users/"+u.ID+"/mfa/enable", map[string]string{"mfaType": "email", "passcode": codeFrom(via)}, nil)
		require.NoError(t, err)
		require.Equal(t, 200, code, body)
	}
	// challenge signs name in (through the console application when
	// withApp) and asks for an e-mailed code; it returns its answer.
	challenge := func(name string, withApp bool) (int, string) {
		t.Helper()
		login := fmt.Sprintf(`{"grantType":"password","username":%q,"password":%q}`, name, password)
		if withApp {
			login = fmt.Sprintf(`{"grantType":"password","username":%q,"password":%q,"clientId":%q,"clientSecret":%q}`, name, password, console.ClientID, console.ClientSecret)
		}
		var ch api.MFAChallenge
		code, body := p.send(p.hc, "POST", p.base+"/v1/login/oauth/access_token", "", login, &ch)
		require.Equal(t, 200, code, body)
		require.True(t, ch.MFARequired, body)
		return p.send(p.hc, "POST", p.base+"/v1/login/mfa/challenge", "", fmt.Sprintf(`{"mfaToken":%q,"mfaType":"email"}`, ch.MFAToken), nil)
	}
	// Each user gets at most three codes a minute: a new user per step.
	sentThrough := func(name string, withApp bool, want, other *deliverytest.Relay) {
		t.Helper()
		before := len(other.Mails())
		code, body := challenge(name, withApp)
		require.Equal(t, 200, code, body)
		codeFrom(want)
		require.Len(t, other.Mails(), before, "the code went through one provider only")
	}
	admin := func(method, path string, in, out any) int {
		t.Helper()
		code, body, err := p.call(method, path, in, out)
		require.NoError(t, err)
		require.Less(t, code, 300, body)
		return code
	}

	// No application default yet: the category's default, relay-a.
	user("olek", relayA)
	sentThrough("olek", true, relayA, relayB)

	// The console application links relay-b and makes it its default:
	// sign-ins through it get codes through relay-b, the others still
	// through relay-a.
	var link api.AppProvider
	require.Equal(t, 201, admin("POST", "/v1/applications/"+console.ID+"/providers", map[string]any{"providerId": b.ID, "canSignIn": true}, &link))
	require.Equal(t, api.AppProvider{ProviderID: b.ID, Name: "relay-b", Category: "Email", Type: "smtp", CanSignIn: true}, link)
	admin("PATCH", "/v1/applications/"+console.ID+"/providers/"+b.ID+"/default", nil, &link)
	require.True(t, link.Default)
	var links []api.AppProvider
	admin("GET", "/v1/applications/"+console.ID+"/providers", nil, &links)
	require.Equal(t, []api.AppProvider{link}, links)
	sentThrough("olek", true, relayB, relayA)
	user("pia", relayA)
	sentThrough("pia", false, relayA, relayB)

	// set-default moves the category's default; unlinking the
	// application's own sends its users back to the category's.
	p.accessctl(&got, "", "provider", "set-default", "relay-b")
	require.True(t, got.Default)
	p.accessctl(&got, "", "provider", "get", a.ID)
	require.False(t, got.Default, "one default per category")
	user("quinn", relayB)
	sentThrough("quinn", false, relayB, relayA)
	require.Equal(t, 204, admin("DELETE", "/v1/applications/"+console.ID+"/providers/"+b.ID, nil, nil))
	p.accessctl(nil, "", "provider", "set-default", a.ID)
	sentThrough("quinn", true, relayA, relayB)

	// With the default deleted there is none: no code is sent, and the
	// answer names the command that sets one.
	p.accessctl(nil, "", "provider", "delete", "relay-a")
	before := len(relayB.Mails())
	code, body := challenge("pia", false)
	require.Equal(t, 503, code, body)
	require.Contains(t, body, "accessctl provider set-default")
	require.Len(t, relayB.Mails(), before, "relay-b is not chosen by accident")

	var audit []api.AuditEntry
	p.accessctl(&audit, "", "audit", "list", "--type", "provider.set_default")
	require.Len(t, audit, 3, "each set-default is audited, the first provider's too")
	p.accessctl(&audit, "", "audit", "list", "--type", "app.provider_default")
	require.Len(t, audit, 1)
}

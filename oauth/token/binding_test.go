package token_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// TestRefreshBindsConfidentialClient: on /oauth/token a refresh token
// issued to a confidential client is accepted only with that client
// authenticating again (RFC 6749 §6); the built-in public client
// refreshes without a secret; Lerian's refresh route takes the refresh
// token alone and checks clientId and clientSecret when they are sent.
func TestRefreshBindsConfidentialClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	console := e.app(t, "console")
	other := e.app(t, "other")
	e.user(t, "erin", "maple-Harbor-quartz-41")
	signIn := func() string {
		t.Helper()
		var out api.OAuthTokenResponse
		require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{console.ClientID, console.ClientSecret},
			url.Values{"grant_type": {"password"}, "username": {"erin"}, "password": {"maple-Harbor-quartz-41"}}, &out))
		require.NotEmpty(t, out.RefreshToken)
		return out.RefreshToken
	}
	refresh := func(basic [2]string, form url.Values) (int, api.OAuthTokenResponse, api.OAuthError) {
		t.Helper()
		var raw map[string]any
		code := e.postForm(t, "/oauth/token", basic, form, &raw)
		var ok api.OAuthTokenResponse
		var fail api.OAuthError
		if code == http.StatusOK {
			ok.RefreshToken, _ = raw["refresh_token"].(string)
			ok.AccessToken, _ = raw["access_token"].(string)
		} else {
			fail.Error, _ = raw["error"].(string)
			fail.Description, _ = raw["error_description"].(string)
		}
		return code, ok, fail
	}

	rt := signIn()
	grant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	code, _, fail := refresh([2]string{}, grant)
	require.Equal(t, http.StatusUnauthorized, code, "a confidential client's refresh token without its client: %+v", fail)
	require.Equal(t, "invalid_client", fail.Error)
	require.Contains(t, fail.Description, "RFC 6749 §6")

	withID := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {console.ClientID}}
	code, _, fail = refresh([2]string{}, withID)
	require.Equal(t, http.StatusUnauthorized, code, "a client_id is not an authentication: %+v", fail)
	require.Equal(t, "invalid_client", fail.Error)

	code, _, fail = refresh([2]string{other.ClientID, other.ClientSecret}, grant)
	require.Equal(t, http.StatusBadRequest, code, "another client's credentials: %+v", fail)
	require.Equal(t, "invalid_grant", fail.Error)

	// None of the refusals spent the token: its own client refreshes.
	code, next, fail := refresh([2]string{console.ClientID, console.ClientSecret}, grant)
	require.Equal(t, http.StatusOK, code, "%+v", fail)
	require.NotEmpty(t, next.AccessToken)

	// Lerian's route: the refresh token alone, as the console sends it.
	code, lt, lf := e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: next.RefreshToken})
	require.Equal(t, http.StatusOK, code, "%+v", lf)
	// clientId and clientSecret, when sent, are checked.
	code, _, lf = e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: lt.RefreshToken, ClientID: other.ClientID})
	require.Equal(t, http.StatusUnauthorized, code, "another client's clientId: %+v", lf)
	require.Equal(t, "AUT-1005", lf.Code)
	code, _, lf = e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: lt.RefreshToken, ClientID: console.ClientID, ClientSecret: "acs_wrong"})
	require.Equal(t, http.StatusUnauthorized, code, "a wrong clientSecret: %+v", lf)
	code, _, lf = e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: lt.RefreshToken, ClientID: other.ClientID, ClientSecret: other.ClientSecret})
	require.Equal(t, http.StatusUnauthorized, code, "another client's credentials: %+v", lf)
	code, _, lf = e.lerianToken(t, "/v1/login/oauth/refresh_token", api.RefreshTokenRequest{RefreshToken: lt.RefreshToken, ClientID: console.ClientID, ClientSecret: console.ClientSecret})
	require.Equal(t, http.StatusOK, code, "its own client's credentials: %+v", lf)

	// The built-in public client refreshes without a secret.
	_, pub, _ := e.passwordLogin(t, "erin", "maple-Harbor-quartz-41")
	code, _, fail = refresh([2]string{}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pub.RefreshToken}})
	require.Equal(t, http.StatusOK, code, "tokens.default_client's refresh token: %+v", fail)
}

// introspectPerm is the permission that lets a client introspect every
// token.
var introspectPerm = api.Permission{Resource: "introspect", Action: "post"}

// TestIntrospectionPrivacy: a token's claims are answered only to the
// client it was issued to, a client its audience names, or a client
// holding the introspect permission; anyone else reads
// {"active":false}, exactly as for an invalid token.
func TestIntrospectionPrivacy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	owner := e.app(t, "ledger")
	stranger := e.app(t, "stranger")
	gateway := e.app(t, "gateway")
	_, err := e.id.Groups().Grant(ctx(), admin, "gateway-group", introspectPerm)
	require.NoError(t, err)
	e.user(t, "frank", "copper-Meadow-lantern-36")

	var at api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{owner.ClientID, owner.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &at))
	var ut api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{owner.ClientID, owner.ClientSecret},
		url.Values{"grant_type": {"password"}, "username": {"frank"}, "password": {"copper-Meadow-lantern-36"}}, &ut))
	require.NotEmpty(t, ut.RefreshToken)

	introspect := func(by api.CreatedApplication, tok string) map[string]any {
		t.Helper()
		var out map[string]any
		require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/introspect", [2]string{by.ClientID, by.ClientSecret}, url.Values{"token": {tok}}, &out))
		return out
	}
	inactive := map[string]any{"active": false}
	for _, tc := range []struct {
		name  string
		by    api.CreatedApplication
		tok   string
		claim string // a claim the answer must carry when active
	}{
		{"application token", owner, at.AccessToken, "client_id"},
		{"user token", owner, ut.AccessToken, "username"},
		{"refresh token", owner, ut.RefreshToken, "sub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := introspect(tc.by, tc.tok)
			require.Equal(t, true, got["active"], "its own client: %v", got)
			require.NotEmpty(t, got[tc.claim], "its own client: %v", got)
			require.Equal(t, inactive, introspect(stranger, tc.tok), "another client reads nothing")
			got = introspect(gateway, tc.tok)
			require.Equal(t, true, got["active"], "a client holding the introspect permission: %v", got)
			require.NotEmpty(t, got[tc.claim], "a client holding the introspect permission: %v", got)
		})
	}
	// The permission is a grant like any other: taken away, it ends.
	_, err = e.id.Groups().Revoke(ctx(), admin, "gateway-group", introspectPerm)
	require.NoError(t, err)
	require.Equal(t, inactive, introspect(gateway, ut.AccessToken))

	// Revocation by another client stays a silent 200 that changes nothing.
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/revoke", [2]string{stranger.ClientID, stranger.ClientSecret}, url.Values{"token": {ut.AccessToken}}, nil))
	require.Equal(t, true, introspect(owner, ut.AccessToken)["active"])
}

// TestApplicationLogoutAndRotationGrace: an application's forced logout
// (the admin socket's, and the data-plane route's) ends every access
// token it holds, as a user's does; and once a rotation's grace is over,
// the tokens minted with the old secret end with it, while those of the
// new secret go on.
func TestApplicationLogoutAndRotationGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	a := e.app(t, "billing")
	check := api.AuthorizeRequest{Sub: a.ClientID, Resource: "accounts", Action: "get", Product: "midaz"}
	mint := func(secret string) string {
		t.Helper()
		var out api.OAuthTokenResponse
		require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{a.ClientID, secret}, url.Values{"grant_type": {"client_credentials"}}, &out))
		return out.AccessToken
	}
	passes := func(tok string) bool {
		t.Helper()
		code, d := e.authorize(t, tok, check)
		return code == http.StatusOK && d.Authorized
	}

	before := mint(a.ClientSecret)
	require.True(t, passes(before))
	e.clock.Add(time.Second)
	require.NoError(t, e.id.Applications().LogoutApplication(ctx(), admin, a.ClientID))
	require.False(t, passes(before), "a token from before `accessctl app logout` no longer passes")
	e.clock.Add(time.Second)
	after := mint(a.ClientSecret)
	require.True(t, passes(after), "the secret still works: new tokens pass")

	// The data-plane route, for a bearer with the applications permission
	// that holds what the application holds (as for every act on a subject).
	_, err := e.id.Groups().CreateGroup(ctx(), admin, api.CreateGroupRequest{Name: "app-admins"})
	require.NoError(t, err)
	_, err = e.id.Groups().Grant(ctx(), admin, "app-admins", api.Permission{Resource: "applications", Action: "*"})
	require.NoError(t, err)
	_, err = e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: "gina", Email: "gina@example.test", Password: "saffron-Glacier-piano-27", Groups: []string{"app-admins", "billing-group"}})
	require.NoError(t, err)
	_, ops, _ := e.passwordLogin(t, "gina", "saffron-Glacier-piano-27")
	e.clock.Add(time.Second)
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/v1/applications/"+a.ID+"/logout", map[string]string{"Authorization": "Bearer " + ops.AccessToken}, nil, nil))
	require.False(t, passes(after), "the data-plane logout ended it too")
	e.clock.Add(time.Second)

	// A rotation with 10 minutes' grace: both secrets mint meanwhile.
	old := mint(a.ClientSecret)
	rot, err := e.id.Applications().RotateApplication(ctx(), admin, a.ClientID, "10m")
	require.NoError(t, err)
	e.clock.Add(time.Minute)
	oldInGrace := mint(a.ClientSecret)
	fresh := mint(rot.ClientSecret)
	for _, tok := range []string{old, oldInGrace, fresh} {
		require.True(t, passes(tok), "within the grace every token passes")
	}
	e.clock.Add(10 * time.Minute)
	require.False(t, passes(old), "the grace is over: the old secret's tokens end")
	require.False(t, passes(oldInGrace), "including those it minted during the grace")
	require.True(t, passes(fresh), "the new secret's token goes on")
	var oe api.OAuthError
	require.Equal(t, http.StatusUnauthorized, e.postForm(t, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &oe))
}

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// Lerian's console (LerianStudio/midaz-console) replayed against a real
// daemon: each call exactly as its repositories under
// src/core/infrastructure/midaz-plugins send it (HttpFetchUtils: the
// Content-Type and X-Request-Id headers on every call, the access token
// as a bare Authorization header, the bodies JSON.stringify makes, keys
// in its order), and each answer decoded into the type it decodes it
// into (src/core/domain/entities). HttpFetchUtils throws on a text/plain
// answer and on a non-2xx one, and calls response.json() whenever the
// answer has a body, so every answer must be JSON or empty.

// The console's entities, field for field.
type (
	consoleAuthResponse struct { // AuthResponseEntity
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		IDToken      string `json:"idToken"`
		TokenType    string `json:"tokenType"`
		ExpiresIn    int    `json:"expiresIn"`
		Scope        string `json:"scope"`
	}
	consoleUser struct { // UserEntity
		ID        string   `json:"id"`
		FirstName string   `json:"firstName"`
		LastName  string   `json:"lastName"`
		Username  string   `json:"username"`
		Email     string   `json:"email"`
		Groups    []string `json:"groups"`
	}
	consoleGroup struct { // GroupsEntity
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"createdAt"`
	}
)

// validatePermissions is the console's
// src/context/permission-provider/validate-permissions.ts, line for line:
// a `*` key allows everything; else the resource's entry must hold `*`
// or the action. (permissions.hasOwnProperty on a null answer is the
// client-side exception a 404 caused.)
func validatePermissions(permissions map[string][]string, resource, action string) bool {
	const wildcard = "*"
	if _, ok := permissions[wildcard]; ok {
		return true
	}
	if permissions[resource] == nil {
		return false
	}
	if slices.Contains(permissions[resource], wildcard) {
		return true
	}
	return slices.Contains(permissions[resource], action)
}

// consolePermissions is IdentityAuthPermissionRepository.getPermissions:
// GET ${PLUGIN_AUTH_BASE_PATH}/permissions/ (a trailing slash), decoded as
// AuthPermissionEntity (a record of resource -> actions), which must be
// Lerian's Permissions shape.
func consolePermissions(t *testing.T, d *lerianDaemon, schemas map[string]*jsonschema.Schema, token string) map[string][]string {
	t.Helper()
	body := consoleFetch(t, d, token, "GET", "/v1/permissions/", "")
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, schemas["Permissions"].Validate(v), "%s", body)
	p := decodeAs[map[string][]string](t, body)
	require.NotNil(t, p, "hasOwnProperty on null: the console's Settings page dies")
	return p
}

// consoleFetch is HttpFetchUtils.httpFetch: it sends the console's headers
// and returns the body of a 2xx JSON (or empty) answer.
func consoleFetch(t *testing.T, d *lerianDaemon, token, method, path, body string) []byte {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/json", "X-Request-Id": fmt.Sprintf("console-%d", time.Now().UnixNano())}
	if token != "" {
		hdr["Authorization"] = token // `${access_token}`: no "Bearer "
	}
	a := sendHTTP(t, d.data, method, d.base+path, hdr, body)
	require.NotContains(t, a.header.Get("Content-Type"), "text/plain", "%s %s: the console throws on text/plain (%s)", method, path, a)
	require.Equal(t, 2, a.status/100, "%s %s: the console throws on a non-2xx answer: %s", method, path, a)
	if len(a.body) > 0 {
		require.True(t, json.Valid(a.body), "%s %s: response.json() fails on %s", method, path, a.body)
	}
	return a.body
}

// claimsJSON is jwt.decode: a JWS compact token's payload, unverified.
func claimsJSON(t *testing.T, tok string) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, "jwt.decode needs a JWS compact token")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	return payload
}

// decodeAs decodes body as the console's type T and checks that every
// field the console reads is in it (TypeScript's `!` trusts they are).
func decodeAs[T any](t *testing.T, body []byte, fields ...string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) == nil {
		for _, f := range fields {
			require.Contains(t, keys, f, "the console reads %q from %s", f, body)
		}
	}
	return v
}

func TestConsoleCalls(t *testing.T) {
	t.Parallel()
	d := startLerianDaemon(t)
	const editorPW = "console-Editor-pass-52"
	editor := d.user(t, "maria@example.test", "maria@example.test", editorPW, "identity-editor-group", "midaz-viewer-group")
	// The console signs in as its own application (PLUGIN_AUTH_CLIENT_ID
	// and PLUGIN_AUTH_CLIENT_SECRET).
	var app struct{ ClientID, ClientSecret string }
	d.adminJSON(t, "POST", "/v1/applications", map[string]string{"name": "lerian-console", "description": "Lerian Console"}, &app)

	// IdentityAuthLoginRepository.login: {...loginData, clientId,
	// clientSecret, grantType}; the session is built from the token's
	// claims (jwt.decode, no verification): sub, name.
	login := func(username, password string) consoleAuthResponse {
		t.Helper()
		body := fmt.Sprintf(`{"username":%q,"password":%q,"clientId":%q,"clientSecret":%q,"grantType":"password"}`,
			username, password, app.ClientID, app.ClientSecret)
		return decodeAs[consoleAuthResponse](t, consoleFetch(t, d, "", "POST", "/v1/login/oauth/access_token", body),
			"accessToken", "refreshToken", "tokenType", "expiresIn")
	}
	auth := login("maria@example.test", editorPW)
	ec := decodeAs[map[string]any](t, claimsJSON(t, auth.AccessToken), "sub", "name")
	require.Equal(t, editor.ID, ec["sub"], "the session id is the token's sub")
	tok := auth.AccessToken

	// PermissionProvider: an identity editor (in no midaz group, so no
	// `*` key decides for it) may open the Users page: users/get, an
	// identity resource, by its own entry.
	schemas := lerianSchemas(t)
	const inesPW = "console-Identity-pass-18"
	d.user(t, "ines.rocha", "ines.rocha@example.test", inesPW, "identity-editor-group")
	perms := consolePermissions(t, d, schemas, login("ines.rocha@example.test", inesPW).AccessToken)
	require.Equal(t, map[string][]string{"applications": {"*"}, "groups": {"*"}, "reset-password": {"*"}, "update-password": {"*"}, "users": {"*"}}, perms,
		"an identity editor: every action on the identity resources (a `*` action), no midaz grant")
	require.True(t, validatePermissions(perms, "users", "get"), "an identity editor may list users: %v", perms)
	require.False(t, validatePermissions(perms, "accounts", "get"), "and nothing of midaz: %v", perms)

	// The sign-in form asks for an e-mail address and sends it as
	// username: a user whose username is not the address signs in with
	// it. The answer carries the ID token (for the console, its client
	// is the audience); the access token names the user (displayName).
	const viewerPW = "console-Viewer-pass-64"
	viewer := d.user(t, "vera.lima", "vera.lima@example.test", viewerPW, "midaz-viewer-group")
	va := login("vera.lima@example.test", viewerPW)
	require.NotEmpty(t, va.IDToken, "AuthResponseEntity.idToken")
	vc := decodeAs[map[string]any](t, claimsJSON(t, va.AccessToken), "sub", "name", "displayName")
	require.Equal(t, viewer.ID, vc["sub"])
	require.Equal(t, "Test Vera.lima", vc["displayName"], "first and last name")
	ic := claims(t, va.IDToken)
	require.Equal(t, viewer.ID, ic["sub"])
	require.Contains(t, []any{app.ClientID, []any{app.ClientID}}, ic["aud"], "the ID token is for the console's client")

	// A midaz viewer: exactly what the daemon answers (midaz's grant on
	// every resource as a `*` key with its actions; the identity
	// resources with none), and what the console concludes from it. Its
	// rule reads a `*` key as "everything", whatever actions it lists: a
	// viewer's console offers deleting accounts and managing users. The
	// daemon refuses them when asked (below); the console only shows them.
	vp := consolePermissions(t, d, schemas, va.AccessToken)
	require.Equal(t, map[string][]string{"*": {"get", "head"}, "applications": {}, "groups": {}, "providers": {},
		"reset-password": {}, "update-password": {}, "users": {}}, vp)
	for _, c := range []struct {
		resource, action string
		console, daemon  bool
	}{{"accounts", "get", true, true}, {"accounts", "delete", true, false}, {"ledgers", "post", true, false}} {
		require.Equal(t, c.console, validatePermissions(vp, c.resource, c.action), "the console on %s/%s for a midaz viewer, from %v", c.resource, c.action, vp)
		az := sendHTTP(t, d.data, "POST", d.base+"/v1/authorize", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + va.AccessToken},
			fmt.Sprintf(`{"sub":"lerian/%s","resource":%q,"action":%q,"product":"midaz"}`, viewer.ID, c.resource, c.action))
		require.Equal(t, 200, az.status, az.String())
		require.Contains(t, string(az.body), fmt.Sprintf(`"authorized":%t`, c.daemon), "the daemon on %s/%s for a midaz viewer", c.resource, c.action)
	}
	// users/get is the identity's own resource: the console offers the
	// viewer its Users page, whose call the daemon refuses.
	require.True(t, validatePermissions(vp, "users", "get"), "the console on users/get for a midaz viewer, from %v", vp)
	a := sendHTTP(t, d.data, "GET", d.base+"/v1/users", map[string]string{"Content-Type": "application/json", "Authorization": va.AccessToken}, "")
	require.Equal(t, 403, a.status, "the Users page the console offers a viewer is refused: %s", a)

	// IdentityCreateUsersRepository.create: UserMapper.toDomain's keys.
	created := decodeAs[consoleUser](t, consoleFetch(t, d, tok, "POST", "/v1/users",
		`{"firstName":"João","lastName":"Silva","email":"joao@example.test","username":"joao@example.test","groups":[],"password":"console-New-user-pw-31"}`),
		"id", "firstName", "lastName", "username", "email", "groups")
	require.Empty(t, created.Groups)

	// IdentityFetchAllUsersRepository.fetchAll: UserEntity[], mapped
	// with users.map(UserMapper.toDto).
	users := decodeAs[[]consoleUser](t, consoleFetch(t, d, tok, "GET", "/v1/users", ""))
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
		require.NotEmpty(t, u.ID)
		require.NotNil(t, u.Groups, "groups is an array, never null")
	}
	require.Contains(t, names, "joao@example.test")

	// IdentityFetchUserByIdRepository.fetchById.
	got := decodeAs[consoleUser](t, consoleFetch(t, d, tok, "GET", "/v1/users/"+created.ID, ""),
		"id", "firstName", "lastName", "username", "email", "groups")
	require.Equal(t, "João", got.FirstName)

	// IdentityUpdateUserRepository.update: { firstName, lastName, email, groups }.
	consoleFetch(t, d, tok, "PATCH", "/v1/users/"+created.ID,
		`{"firstName":"João Pedro","lastName":"Silva","email":"joao@example.test","groups":["midaz-viewer-group"]}`)
	got = decodeAs[consoleUser](t, consoleFetch(t, d, tok, "GET", "/v1/users/"+created.ID, ""))
	require.Equal(t, "João Pedro", got.FirstName)
	require.Equal(t, []string{"midaz-viewer-group"}, got.Groups, "an identity editor confers the groups it holds itself")

	// IdentityResetUserPasswordRepository.resetPassword: { newPassword };
	// the user then signs in with it.
	consoleFetch(t, d, tok, "PATCH", "/v1/users/"+created.ID+"/reset-password", `{"newPassword":"console-Reset-pw-77"}`)
	// A reset ends the user's sessions: tokens issued up to the second of
	// the reset (iat has whole seconds) are refused, so sign in after it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	joao := login("joao@example.test", "console-Reset-pw-77")

	// IdentityUpdateUserPasswordRepository.updatePassword, by the signed-in
	// user on their own account: { oldPassword, newPassword }.
	consoleFetch(t, d, joao.AccessToken, "PATCH", "/v1/users/"+created.ID+"/update-password",
		`{"oldPassword":"console-Reset-pw-77","newPassword":"console-Own-pw-2026"}`)
	login("joao@example.test", "console-Own-pw-2026")

	// Groups: fetchAllGroups (groupsEntity.map(GroupMapper.toResponseDto))
	// and fetchGroupById.
	groups := decodeAs[[]consoleGroup](t, consoleFetch(t, d, tok, "GET", "/v1/groups", ""))
	require.NotEmpty(t, groups)
	for _, g := range groups {
		require.NotEmpty(t, g.ID)
		require.NotEmpty(t, g.Name)
		require.False(t, g.CreatedAt.IsZero(), "group %s has a createdAt", g.ID)
	}
	g := decodeAs[consoleGroup](t, consoleFetch(t, d, tok, "GET", "/v1/groups/midaz-viewer-group", ""), "id", "name", "createdAt")
	require.Equal(t, "midaz-viewer-group", g.ID)

	// IdentityDeleteUserRepository.delete; the user is gone.
	consoleFetch(t, d, tok, "DELETE", "/v1/users/"+created.ID, "")
	a = sendHTTP(t, d.data, "GET", d.base+"/v1/users/"+created.ID, map[string]string{"Content-Type": "application/json", "Authorization": tok}, "")
	require.Equal(t, 404, a.status, a.String())
	require.Contains(t, a.header.Get("Content-Type"), "application/json", "handleMidazError reads a JSON error")
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// The contract test: every route accessd shares with Lerian's Access
// Manager, sent the request Lerian's reference documents, its answer
// (status and body) validated against the schema Lerian publishes for it.
// The schemas live in testdata/lerian, each naming the page it came from
// and what was changed (sources.md lists them and the deliberate
// differences).

const schemaBase = "https://accessd.invalid/lerian/"

// lerianSchemas compiles every schema in testdata/lerian, with formats
// (date-time, email) asserted, not just annotated.
func lerianSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, err := filepath.Glob("testdata/lerian/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var names []string
	for _, f := range files {
		if filepath.Base(f) == "errors.json" {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		require.NoError(t, err, f)
		require.NoError(t, c.AddResource(schemaBase+filepath.Base(f), doc), f)
		names = append(names, filepath.Base(f))
	}
	out := map[string]*jsonschema.Schema{}
	for _, n := range names {
		s, err := c.Compile(schemaBase + n)
		require.NoError(t, err, n)
		out[strings.TrimSuffix(n, ".json")] = s
	}
	return out
}

// lerianErrorTitles is Lerian's published code -> title list.
func lerianErrorTitles(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/lerian/errors.json")
	require.NoError(t, err)
	var doc struct {
		Codes map[string]string `json:"codes"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.NotEmpty(t, doc.Codes)
	return doc.Codes
}

// contract checks one exchange: the request body against its schema
// (so the test sends what Lerian documents), then the answer's status
// and body against the answer's schema.
type contract struct {
	schemas map[string]*jsonschema.Schema
	titles  map[string]string
	d       *lerianDaemon
}

func (c *contract) validate(t *testing.T, schema string, body []byte) any {
	t.Helper()
	s, ok := c.schemas[schema]
	require.True(t, ok, "no schema %s in testdata/lerian", schema)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err, "%s: not JSON: %s", schema, body)
	require.NoError(t, s.Validate(v), "%s rejects %s", schema, body)
	return v
}

// call sends method path with a JSON body (validated against reqSchema
// when it is not "") as the bearer tok, and checks the answer is status
// with a body valid under respSchema ("" for an empty body). It returns
// the body.
func (c *contract) call(t *testing.T, tok, method, path, reqSchema, body string, status int, respSchema string) answer {
	t.Helper()
	hdr := map[string]string{"Accept": "application/json"}
	if tok != "" {
		hdr["Authorization"] = "Bearer " + tok
	}
	if body != "" {
		hdr["Content-Type"] = "application/json"
		if reqSchema != "" {
			c.validate(t, reqSchema, []byte(body))
		}
	}
	a := sendHTTP(t, c.d.data, method, c.d.base+path, hdr, body)
	require.Equal(t, status, a.status, "%s %s: %s", method, path, a)
	if respSchema == "" {
		require.Empty(t, a.body, "%s %s answers no body", method, path)
		return a
	}
	require.True(t, strings.HasPrefix(a.header.Get("Content-Type"), "application/json"), "%s %s: Content-Type %q", method, path, a.header.Get("Content-Type"))
	c.validate(t, respSchema, a.body)
	return a
}

// fail checks an error answer: Lerian's ErrorMessage shape, the code, and
// for a code Lerian publishes, Lerian's title.
func (c *contract) fail(t *testing.T, tok, method, path, body string, status int, code string) {
	t.Helper()
	a := c.call(t, tok, method, path, "", body, status, "ErrorMessage")
	var e struct{ Code, Title string }
	require.NoError(t, json.Unmarshal(a.body, &e))
	require.Equal(t, code, e.Code, "%s %s: %s", method, path, a)
	if want, ok := c.titles[code]; ok {
		require.Equal(t, want, e.Title, "%s is Lerian's %q", code, want)
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestLerianContract(t *testing.T) {
	c := &contract{schemas: lerianSchemas(t), titles: lerianErrorTitles(t), d: startLerianDaemon(t)}
	const adminPW, userPW = "contract-Admin-pass-93", "contract-User-pass-47"
	admin := c.d.user(t, "contract.admin", "contract.admin@example.test", adminPW, "admin-group")

	// Auth: sign in (password grant), refresh, client credentials.
	var tok struct{ AccessToken, RefreshToken string }
	a := c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "contract.admin", "password": adminPW}), 200, "OAuth2Token")
	require.NoError(t, json.Unmarshal(a.body, &tok))
	a = c.call(t, "", "POST", "/v1/login/oauth/refresh_token", "RefreshTokenInput",
		js(t, map[string]string{"refreshToken": tok.RefreshToken}), 200, "OAuth2Token")
	require.NoError(t, json.Unmarshal(a.body, &tok))
	bearer := tok.AccessToken
	c.fail(t, "", "POST", "/v1/login/oauth/refresh_token", js(t, map[string]string{"refreshToken": tok.RefreshToken, "username": "x"}), 400, "AUT-0003")
	c.fail(t, "", "POST", "/v1/login/oauth/refresh_token", `{"refreshToken":"not-a-refresh-token"}`, 401, "AUT-1005")
	c.fail(t, "", "POST", "/v1/login/oauth/access_token", `{"grantType":"authorization_code"}`, 400, "AUT-0013")
	c.fail(t, "", "POST", "/v1/login/oauth/access_token", `{"grantType":"password","username":"contract.admin"}`, 400, "AUT-0014")

	// Users.
	created := c.call(t, bearer, "POST", "/v1/users", "CreateUserInput", js(t, map[string]any{"username": "ana.souza", "password": userPW,
		"firstName": "Ana", "lastName": "Souza", "email": "ana.souza@example.test", "groups": []string{"midaz-viewer-group"}}), 201, "UserResponse")
	var ana struct{ ID string }
	require.NoError(t, json.Unmarshal(created.body, &ana))
	list := c.call(t, bearer, "GET", "/v1/users", "", "", 200, "UserList")
	require.Empty(t, list.header.Get("Link"), "every user fits the first 1,000")
	var all []any
	require.NoError(t, json.Unmarshal(list.body, &all))
	require.Greater(t, len(all), 2)
	// One user a page: a Link to each next page (RFC 8288), none on the last.
	next, pages := "/v1/users?limit=1", 0
	for ; next != ""; pages++ {
		p := c.call(t, bearer, "GET", next, "", "", 200, "UserList")
		next = ""
		if l := p.header.Get("Link"); l != "" {
			require.Equal(t, fmt.Sprintf(`</v1/users?limit=1&page=%d>; rel="next"`, pages+2), l)
			next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
	}
	require.Equal(t, len(all), pages)
	c.call(t, bearer, "GET", "/v1/users/"+ana.ID, "", "", 200, "UserResponse")
	c.call(t, bearer, "PATCH", "/v1/users/"+ana.ID, "UpdateUserInput", js(t, map[string]any{"firstName": "Ana Maria",
		"lastName": "Souza", "email": "ana.souza@example.test", "groups": []string{"midaz-viewer-group", "midaz-editor-group"}}), 200, "UserResponse")
	c.call(t, bearer, "PATCH", "/v1/users/"+ana.ID+"/reset-password", "ResetPasswordInput", js(t, map[string]string{"newPassword": userPW + "x"}), 204, "")
	c.call(t, bearer, "PATCH", "/v1/users/"+admin.ID+"/update-password", "UpdatePasswordInput",
		js(t, map[string]string{"oldPassword": adminPW, "newPassword": adminPW + "y"}), 204, "")

	// Groups.
	c.call(t, bearer, "GET", "/v1/groups", "", "", 200, "GroupList")
	g := c.call(t, bearer, "GET", "/v1/groups/midaz-viewer-group", "", "", 200, "GroupResponse")
	require.Contains(t, string(g.body), `"ana.souza"`, "a group lists its users by username")

	// Applications: created on the admin socket (the data plane needs
	// step-up for minting a secret), read and deleted on the data plane.
	var app struct{ ID, ClientID, ClientSecret string }
	appReq := js(t, map[string]string{"name": "midaz", "description": "Midaz Used By Application X."})
	c.validate(t, "ApplicationInput", []byte(appReq))
	ad := sendHTTP(t, c.d.admin, "POST", "http://accessd/v1/applications", map[string]string{"Content-Type": "application/json"}, appReq)
	require.Equal(t, 201, ad.status, ad.String())
	c.validate(t, "ApplicationResponse", ad.body)
	require.NoError(t, json.Unmarshal(ad.body, &app))
	// Minting a secret on the data plane is refused in Lerian's error shape.
	c.fail(t, bearer, "POST", "/v1/applications", appReq, 403, "AUT-0407")
	c.call(t, bearer, "GET", "/v1/applications", "", "", 200, "ApplicationList")
	c.call(t, bearer, "GET", "/v1/applications/"+app.ID, "", "", 200, "ApplicationSummary")
	c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "client_credentials", "clientId": app.ClientID, "clientSecret": app.ClientSecret}), 200, "ClientCredentialsToken")

	// MFA: a user reads their own status and starts enrolling a first
	// factor (which is not enabled before it is verified).
	c.call(t, bearer, "GET", "/v1/users/"+admin.ID+"/mfa", "", "", 200, "MFAStatusResponse")
	c.call(t, bearer, "POST", "/v1/users/"+admin.ID+"/mfa/setup", "MFASetupInput", `{"mfaType":"app"}`, 200, "MFASetupResponse")

	// Auth reads with the user's token.
	c.call(t, bearer, "GET", "/v1/userinfo", "", "", 200, "UserInfo")
	c.call(t, bearer, "GET", "/v1/permissions", "", "", 200, "Permissions")
	az := js(t, map[string]string{"sub": "lerian/" + admin.ID, "resource": "accounts", "action": "get", "product": "midaz"})
	c.call(t, bearer, "POST", "/v1/authorize", "AuthorizeInput", az, 200, "AuthorizeResponse")

	// Lerian's request-shape errors, with Lerian's codes and titles.
	c.fail(t, "", "GET", "/v1/users", "", 401, "AUT-0006")
	c.fail(t, "", "GET", "/v1/permissions", "", 401, "AUT-0006")
	c.fail(t, bearer, "POST", "/v1/users", js(t, map[string]string{"email": "no.name@example.test"}), 400, "AUT-0001")
	c.fail(t, bearer, "GET", "/v1/users/"+url.PathEscape("a\x01b"), "", 400, "AUT-0002")
	c.fail(t, bearer, "POST", "/v1/users", js(t, map[string]string{"username": "x1", "email": "x1@example.test", "nickname": "x"}), 400, "AUT-0003")
	c.fail(t, bearer, "GET", "/v1/users?limit=many", "", 400, "AUT-0004")
	c.fail(t, bearer, "GET", "/v1/groups?page=0", "", 400, "AUT-0004")
	c.fail(t, bearer, "POST", "/v1/users", `{"username":`, 400, "AUT-0009")
	c.fail(t, bearer, "POST", "/v1/authorize", js(t, map[string]string{"sub": "lerian/" + admin.ID}), 400, "AUT-0001")

	// Deletes, and what a deleted record answers.
	c.call(t, bearer, "DELETE", "/v1/applications/"+app.ID, "", "", 204, "")
	c.call(t, bearer, "DELETE", "/v1/users/"+ana.ID, "", "", 204, "")
	c.fail(t, bearer, "GET", "/v1/users/"+ana.ID, "", 404, "AUT-0404")

	// MFA end to end, as Lerian documents it: enrol an authenticator app
	// (setup, verify a code, enable with a recovery code), then sign in:
	// a challenge instead of a token, completed with a recovery code.
	const mfaPW = "contract-Mfa-pass-61"
	mu := c.d.user(t, "mfa.user", "mfa.user@example.test", mfaPW, "midaz-viewer-group")
	a = c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "mfa.user", "password": mfaPW}), 200, "OAuth2Token")
	var mtok struct{ AccessToken string }
	require.NoError(t, json.Unmarshal(a.body, &mtok))
	a = c.call(t, mtok.AccessToken, "POST", "/v1/users/"+mu.ID+"/mfa/setup", "MFASetupInput", `{"mfaType":"app"}`, 200, "MFASetupResponse")
	var setup struct {
		Secret        string
		RecoveryCodes []string
	}
	require.NoError(t, json.Unmarshal(a.body, &setup))
	require.NotEmpty(t, setup.RecoveryCodes)
	// A seed the client names is not taken: a code from it fails.
	const chosen = "JBSWY3DPEHPK3PXP"
	forged, err := totp.GenerateCode(chosen, time.Now())
	require.NoError(t, err)
	c.fail(t, mtok.AccessToken, "POST", "/v1/users/"+mu.ID+"/mfa/verify", js(t, map[string]string{"passcode": forged, "secret": chosen, "mfaType": "app"}), 401, "AUT-1009")
	code, err := totp.GenerateCode(setup.Secret, time.Now())
	require.NoError(t, err)
	c.call(t, mtok.AccessToken, "POST", "/v1/users/"+mu.ID+"/mfa/verify", "MFAVerifyInput", js(t, map[string]string{"passcode": code, "secret": setup.Secret, "mfaType": "app"}), 200, "MFAVerifyResponse")
	c.call(t, mtok.AccessToken, "POST", "/v1/users/"+mu.ID+"/mfa/enable", "MFAEnableInput",
		js(t, map[string]string{"recoveryCode": setup.RecoveryCodes[0], "mfaType": "app", "secret": setup.Secret}), 200, "MFAEnableResponse")
	c.call(t, mtok.AccessToken, "GET", "/v1/users/"+mu.ID+"/mfa", "", "", 200, "MFAStatusResponse")
	a = c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "mfa.user", "password": mfaPW}), 200, "MFAChallengeResponse")
	var ch struct{ MFAToken string }
	require.NoError(t, json.Unmarshal(a.body, &ch))
	a = c.call(t, "", "POST", "/v1/login/mfa/verify", "MFALoginVerifyInput",
		js(t, map[string]string{"mfaToken": ch.MFAToken, "mfaType": "app", "recoveryCode": setup.RecoveryCodes[1]}), 200, "OAuth2Token")
	// Changing the preferred factor, with the session that passed it.
	require.NoError(t, json.Unmarshal(a.body, &mtok))
	c.call(t, mtok.AccessToken, "PATCH", "/v1/users/"+mu.ID+"/mfa/preferred", "MFAPreferredInput",
		js(t, map[string]string{"mfaType": "app", "secret": setup.Secret}), 200, "MFAPreferredResponse")

	// Logout: Lerian's form body, an empty answer; the session is over.
	lo := sendHTTP(t, c.d.data, "POST", c.d.base+"/v1/logout", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		url.Values{"id_token_hint": {bearer}}.Encode())
	require.Equal(t, 204, lo.status, lo.String())
	require.Empty(t, lo.body)
	c.fail(t, bearer, "GET", "/v1/users", "", 401, "AUT-0401")
	c.fail(t, "", "POST", "/v1/logout", "", 400, "AUT-0009")
}

// TestLerianSchemasBite: each schema the contract relies on refuses an
// answer with a documented field removed or of the wrong type, so a
// passing contract test means the fields are there.
func TestLerianSchemasBite(t *testing.T) {
	s := lerianSchemas(t)
	for _, tc := range []struct{ schema, good, bad string }{
		{"UserResponse", `{"id":"1","firstName":"A","lastName":"B","email":"a@b.c","username":"ab","groups":[]}`,
			`{"id":"1","firstName":"A","lastName":"B","email":"a@b.c","username":"ab"}`},
		{"UserList", `[]`, `{"items":[],"page":1,"limit":10,"more":false}`},
		{"GroupResponse", `{"id":"g","name":"g","createdAt":"2025-04-08T08:01:30.169Z","users":["a"]}`,
			`{"id":"g","name":"g","createdAt":"yesterday","users":["a"]}`},
		{"ApplicationSummary", `{"id":"1","name":"midaz","clientId":"c","createdAt":"2025-04-08T08:01:30Z"}`,
			`{"id":"1","name":"midaz","clientId":"c","clientSecret":"s","createdAt":"2025-04-08T08:01:30Z"}`},
		{"OAuth2Token", `{"accessToken":"a","expiresIn":3600,"refreshToken":"r","tokenType":"Bearer"}`,
			`{"accessToken":"a","expiresIn":"3600","refreshToken":"r","tokenType":"Bearer"}`},
		{"ErrorMessage", `{"code":"AUT-0001","title":"t","message":"m"}`, `{"code":"1","title":"t","message":"m"}`},
		{"AuthorizeResponse", `{"authorized":true,"timestamp":"2026-12-07T18:00:00Z"}`, `{"authorized":"yes","timestamp":"2026-12-07T18:00:00Z"}`},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			for body, ok := range map[string]bool{tc.good: true, tc.bad: false} {
				v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
				require.NoError(t, err)
				err = s[tc.schema].Validate(v)
				require.Equal(t, ok, err == nil, fmt.Sprintf("%s on %s: %v", tc.schema, body, err))
			}
		})
	}
}

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

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
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
	differs string // the one field callDiffering lets differ
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
	if c.differs == "" {
		c.validate(t, respSchema, a.body)
	} else {
		c.validateBut(t, respSchema, a.body, c.differs)
	}
	return a
}

// callDiffering is call for a route where accessd's answer differs from
// Lerian's in one field on purpose (the README's "Lerian compatibility"
// table lists it): the answer must be valid under respSchema in every
// other respect. The request body is accessd's, not checked.
func (c *contract) callDiffering(t *testing.T, field, tok, method, path, body string, status int, respSchema string) answer {
	t.Helper()
	c.differs = field
	defer func() { c.differs = "" }()
	return c.call(t, tok, method, path, "", body, status, respSchema)
}

// validateBut validates body against schema and requires that every
// failure is at a member named field, nowhere else.
func (c *contract) validateBut(t *testing.T, schema string, body []byte, field string) {
	t.Helper()
	s, ok := c.schemas[schema]
	require.True(t, ok, "no schema %s in testdata/lerian", schema)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err, "%s: not JSON: %s", schema, body)
	err = s.Validate(v)
	if err == nil {
		return
	}
	var ve *jsonschema.ValidationError
	require.ErrorAs(t, err, &ve)
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := e.InstanceLocation
			require.True(t, len(loc) > 0 && loc[len(loc)-1] == field, "%s rejects %s at /%s, not only at %q: %v", schema, body, strings.Join(loc, "/"), field, err)
		}
		for _, ce := range e.Causes {
			leaves(ce)
		}
	}
	leaves(ve)
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
	t.Parallel()
	c := &contract{schemas: lerianSchemas(t), titles: lerianErrorTitles(t), d: startLerianDaemon(t)}
	const adminPW, userPW = "contract-Admin-pass-93", "contract-User-pass-47"
	admin := c.d.user(t, "contract.admin", "contract.admin@example.test", adminPW, "admin-group")

	// Auth: sign in (password grant), refresh, client credentials.
	var tok struct{ AccessToken, RefreshToken string }
	a := c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "contract.admin", "password": adminPW}), 200, "OAuth2TokenPassword")
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
	// Sign-in by e-mail address (ana's username is not it), as Lerian's
	// console sends it: the answer carries idToken, the access token
	// displayName; an unknown address answers exactly as a wrong password.
	a = c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "ana.souza@example.test", "password": userPW}), 200, "OAuth2TokenPassword")
	var anaTok struct{ AccessToken, IDToken string }
	require.NoError(t, json.Unmarshal(a.body, &anaTok))
	require.Equal(t, "Ana Souza", claims(t, anaTok.AccessToken)["displayName"])
	require.Equal(t, ana.ID, claims(t, anaTok.AccessToken)["sub"])
	require.Equal(t, ana.ID, claims(t, anaTok.IDToken)["sub"], "the ID token is about the user who signed in")
	wrong := sendHTTP(t, c.d.data, "POST", c.d.base+"/v1/login/oauth/access_token", map[string]string{"Content-Type": "application/json"},
		js(t, map[string]string{"grantType": "password", "username": "ana.souza@example.test", "password": userPW + "-wrong"}))
	require.Equal(t, 401, wrong.status, wrong.String())
	c.fail(t, "", "POST", "/v1/login/oauth/access_token", js(t, map[string]string{"grantType": "password", "username": "nobody@example.test", "password": userPW}), 401, "AUT-1006")
	unknown := sendHTTP(t, c.d.data, "POST", c.d.base+"/v1/login/oauth/access_token", map[string]string{"Content-Type": "application/json"},
		js(t, map[string]string{"grantType": "password", "username": "nobody@example.test", "password": userPW}))
	require.Equal(t, string(wrong.body), string(unknown.body), "an unknown e-mail answers exactly like a wrong password")
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
	c.call(t, bearer, "GET", "/v1/permissions/", "", "", 200, "Permissions")
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

	c.providers(t, bearer, app.ID)
	c.stepUp(t)
	c.tenancy(t, bearer)

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
		js(t, map[string]string{"grantType": "password", "username": "mfa.user", "password": mfaPW}), 200, "OAuth2TokenPassword")
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
		js(t, map[string]string{"mfaToken": ch.MFAToken, "mfaType": "app", "recoveryCode": setup.RecoveryCodes[1]}), 200, "OAuth2TokenPassword")
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
	t.Parallel()
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
		{"OAuth2TokenPassword", `{"accessToken":"a","expiresIn":3600,"refreshToken":"r","tokenType":"Bearer","idToken":"i"}`,
			`{"accessToken":"a","expiresIn":3600,"refreshToken":"r","tokenType":"Bearer"}`},
		{"ProviderResponse", `{"id":"p","name":"n","category":"Email","type":"SendGrid","createdAt":"2025-04-08T08:01:30Z"}`,
			`{"id":"p","name":"n","category":"Email","type":"SendGrid","createdAt":"2025-04-08T08:01:30Z","clientSecret":"s"}`},
		{"ErrorMessage", `{"code":"AUT-0001","title":"t","message":"m"}`, `{"code":"1","title":"t","message":"m"}`},
		{"AuthorizeResponse", `{"authorized":true,"timestamp":"2026-12-07T18:00:00Z"}`, `{"authorized":"yes","timestamp":"2026-12-07T18:00:00Z"}`},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			t.Parallel()
			for body, ok := range map[string]bool{tc.good: true, tc.bad: false} {
				v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
				require.NoError(t, err)
				err = s[tc.schema].Validate(v)
				require.Equal(t, ok, err == nil, fmt.Sprintf("%s on %s: %v", tc.schema, body, err))
			}
		})
	}
}

// providers: Lerian's Providers API by ID and its Application Providers
// API, on the data plane with an admin's bearer; then a sign-in whose
// e-mail code Lerian's POST /v1/login/mfa/challenge has delivered through
// the provider. accessd's provider `type` is its own (smtp, …), not
// Lerian's SendGrid/Twilio, and the body carries accessd's delivery
// fields (from, caPem): the README lists that difference, so those
// answers are validated against Lerian's schemas in every field but type.
func (c *contract) providers(t *testing.T, bearer, appID string) {
	t.Helper()
	ca := deliverytest.NewCA(t)
	// The relay wants the account the PATCH below completes.
	relay := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca, Username: "mailer", Password: "relay-password-1"})
	var p struct {
		ID, Type, ClientID string
		CreatedAt          time.Time
	}
	a := c.callDiffering(t, "type", bearer, "POST", "/v1/providers", js(t, map[string]any{"name": "mail-relay", "category": "Email",
		"host": relay.Host, "port": relay.Port, "from": "accessd@example.test", "caPem": ca.PEM, "clientSecret": "relay-password-1"}), 201, "ProviderResponse")
	require.NoError(t, json.Unmarshal(a.body, &p))
	require.Equal(t, "smtp", p.Type, "the one field that differs is accessd's type")
	require.NotContains(t, string(a.body), "relay-password-1", "a provider's secret is never answered")
	a = c.callDiffering(t, "type", bearer, "GET", "/v1/providers", "", 200, "ProviderList")
	require.Contains(t, string(a.body), p.ID)
	c.callDiffering(t, "type", bearer, "GET", "/v1/providers/"+p.ID, "", 200, "ProviderResponse")
	a = c.callDiffering(t, "type", bearer, "PATCH", "/v1/providers/"+p.ID, js(t, map[string]string{"clientId": "mailer", "clientSecret": "relay-password-1"}), 200, "ProviderResponse")
	require.NoError(t, json.Unmarshal(a.body, &p))
	require.Equal(t, "mailer", p.ClientID)
	// Lerian's own create body (type SendGrid) is refused in Lerian's
	// error shape, naming the types accessd delivers with.
	lerianBody := js(t, map[string]any{"name": "sendgrid", "category": "Email", "type": "SendGrid", "clientId": "apikey", "clientSecret": "SG.x"})
	c.validate(t, "ProviderInput", []byte(lerianBody))
	c.fail(t, bearer, "POST", "/v1/providers", lerianBody, 400, "AUT-0400")
	a = sendHTTP(t, c.d.data, "POST", c.d.base+"/v1/providers", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + bearer}, lerianBody)
	require.Contains(t, string(a.body), `\"smtp\"`, "the answer names accessd's types")
	require.NotContains(t, string(a.body), "SG.x")

	// Application Providers: link (201), list, set default, unlink (204).
	link := js(t, map[string]any{"providerId": p.ID, "canSignIn": true})
	c.validate(t, "ProviderItemInput", []byte(link))
	path := "/v1/applications/" + appID + "/providers"
	a = c.callDiffering(t, "type", bearer, "POST", path, link, 201, "ProviderItemResponse")
	require.Contains(t, string(a.body), `"providerId":"`+p.ID+`"`)
	var links []struct{ ProviderID string }
	a = c.callDiffering(t, "type", bearer, "GET", path, "", 200, "ProviderItemList")
	require.NoError(t, json.Unmarshal(a.body, &links))
	require.Len(t, links, 1)
	require.Equal(t, p.ID, links[0].ProviderID)
	var def struct{ Default bool }
	a = c.callDiffering(t, "type", bearer, "PATCH", path+"/"+p.ID+"/default", "", 200, "ProviderItemResponse")
	require.NoError(t, json.Unmarshal(a.body, &def))
	require.True(t, def.Default)
	c.call(t, bearer, "DELETE", path+"/"+p.ID, "", "", 204, "")
	require.JSONEq(t, "[]", string(c.call(t, bearer, "GET", path, "", "", 200, "ProviderItemList").body))

	// POST /v1/login/mfa/challenge: a user whose e-mail factor the admin
	// socket enrolled signs in; the challenge sends the code through the
	// provider; the code completes the sign-in.
	const pw = "contract-Mail-pass-38"
	u := c.d.user(t, "mail.user", "mail.user@example.test", pw, "midaz-viewer-group")
	codeOf := func() string {
		t.Helper()
		m := codeIn.FindStringSubmatch(relay.Next(t).Data)
		require.NotNil(t, m, "the mail carries a code")
		return m[1]
	}
	c.d.adminJSON(t, "POST", "/v1/users/"+u.ID+"/mfa/setup", map[string]string{"mfaType": "email"}, nil)
	c.d.adminJSON(t, "POST", "/v1/users/"+u.ID+"/mfa/enable", map[string]string{"mfaType": "email", "passcode": codeOf()}, nil)
	a = c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "mail.user", "password": pw}), 200, "MFAChallengeResponse")
	var ch struct{ MFAToken string }
	require.NoError(t, json.Unmarshal(a.body, &ch))
	c.call(t, "", "POST", "/v1/login/mfa/challenge", "MFAChallengeInput", js(t, map[string]string{"mfaToken": ch.MFAToken, "mfaType": "email"}), 200, "MFAChallengeStarted")
	c.call(t, "", "POST", "/v1/login/mfa/verify", "MFALoginVerifyInput",
		js(t, map[string]string{"mfaToken": ch.MFAToken, "mfaType": "email", "passcode": codeOf()}), 200, "OAuth2TokenPassword")

	// A provider deleted by ID is gone.
	c.call(t, bearer, "DELETE", "/v1/providers/"+p.ID, "", "", 204, "")
	c.fail(t, bearer, "GET", "/v1/providers/"+p.ID, "", 404, "AUT-0404")
}

// stepUp: Lerian's POST /v1/applications on the data plane, by a holder
// of the permission whose sign-in passed a TOTP enrolled before it,
// answers 201 with the secret (shown once); the password-only session is
// refused with AUT-0407 in Lerian's error shape (TestLerianContract).
func (c *contract) stepUp(t *testing.T) {
	t.Helper()
	const pw = "contract-Stepup-pass-84"
	u := c.d.user(t, "stepup.admin", "stepup.admin@example.test", pw, "admin-group")
	var setup api.MFASetup
	c.d.adminJSON(t, "POST", "/v1/users/"+u.ID+"/mfa/setup", map[string]string{"mfaType": "app"}, &setup)
	c.d.adminJSON(t, "POST", "/v1/users/"+u.ID+"/mfa/enable", map[string]string{"mfaType": "app", "passcode": oathTOTP(t, setup.Secret, time.Now())}, nil)
	a := c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "stepup.admin", "password": pw}), 200, "MFAChallengeResponse")
	var ch struct{ MFAToken string }
	require.NoError(t, json.Unmarshal(a.body, &ch))
	// The next time step's code: the enabling one may not be used twice.
	a = c.call(t, "", "POST", "/v1/login/mfa/verify", "MFALoginVerifyInput",
		js(t, map[string]string{"mfaToken": ch.MFAToken, "mfaType": "app", "passcode": oathTOTP(t, setup.Secret, time.Now().Add(30*time.Second))}), 200, "OAuth2TokenPassword")
	var tok struct{ AccessToken string }
	require.NoError(t, json.Unmarshal(a.body, &tok))
	require.Equal(t, []any{"pwd", "otp"}, claims(t, tok.AccessToken)["amr"])
	a = c.call(t, tok.AccessToken, "POST", "/v1/applications", "ApplicationInput",
		js(t, map[string]string{"name": "plugin-crm", "description": "CRM plugin, made on the data plane."}), 201, "ApplicationResponse")
	var app struct{ ID, ClientID, ClientSecret string }
	require.NoError(t, json.Unmarshal(a.body, &app))
	c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "client_credentials", "clientId": app.ClientID, "clientSecret": app.ClientSecret}), 200, "ClientCredentialsToken")
	a = c.call(t, tok.AccessToken, "GET", "/v1/applications/"+app.ID, "", "", 200, "ApplicationSummary")
	require.NotContains(t, string(a.body), app.ClientSecret, "the secret is shown once")
	c.call(t, tok.AccessToken, "DELETE", "/v1/applications/"+app.ID, "", "", 204, "")
}

// tenancy: a user the admin socket puts in a tenant shows tenantId and
// tenantSlug in Lerian's user answers, which stay valid, and its tokens
// carry them.
func (c *contract) tenancy(t *testing.T, bearer string) {
	t.Helper()
	const pw = "contract-Tenant-pass-26"
	var u api.CreatedUser
	c.d.adminJSON(t, "POST", "/v1/users", map[string]any{"username": "tenant.user", "email": "tenant.user@example.test", "password": pw,
		"firstName": "Tina", "lastName": "Tenant", "groups": []string{"midaz-viewer-group"}, "tenantId": "acme-01", "tenantSlug": "acme"}, &u)
	var got struct{ TenantID, TenantSlug string }
	a := c.call(t, bearer, "GET", "/v1/users/"+u.ID, "", "", 200, "UserResponse")
	require.NoError(t, json.Unmarshal(a.body, &got))
	require.Equal(t, "acme-01", got.TenantID)
	require.Equal(t, "acme", got.TenantSlug)
	a = c.call(t, bearer, "GET", "/v1/users", "", "", 200, "UserList")
	require.Contains(t, string(a.body), `"tenantId":"acme-01"`)
	a = c.call(t, "", "POST", "/v1/login/oauth/access_token", "AccessTokenInput",
		js(t, map[string]string{"grantType": "password", "username": "tenant.user@example.test", "password": pw}), 200, "OAuth2TokenPassword")
	var tok struct{ AccessToken string }
	require.NoError(t, json.Unmarshal(a.body, &tok))
	cl := claims(t, tok.AccessToken)
	require.Equal(t, "acme-01", cl["tenantId"])
	require.Equal(t, "acme", cl["tenantSlug"])
	require.Equal(t, "Tina Tenant", cl["displayName"])
	// The tenant's own bearer reads itself, in Lerian's shape.
	c.call(t, tok.AccessToken, "GET", "/v1/userinfo", "", "", 200, "UserInfo")
}

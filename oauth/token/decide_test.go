package token_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// crmViewer adds the plugin-crm viewer group a CRM plugin deployment
// defines: get and head on every resource of product plugin-crm.
func (e *env) crmViewer(t testing.TB) string {
	t.Helper()
	const g = "plugin-crm-viewer-group"
	_, err := e.id.Groups().CreateGroup(ctx(), admin, api.CreateGroupRequest{Name: g})
	require.NoError(t, err)
	for _, a := range []string{"get", "head"} {
		_, err = e.id.Groups().Grant(ctx(), admin, g, api.Permission{Product: "plugin-crm", Resource: "*", Action: a})
		require.NoError(t, err)
	}
	return g
}

// appToken creates an application in groups and returns its access token
// and client ID.
func (e *env) appToken(t testing.TB, name string, groups ...string) (tok, clientID string) {
	t.Helper()
	a, err := e.id.Applications().CreateApplication(ctx(), admin, api.CreateApplicationRequest{Name: name, Groups: groups})
	require.NoError(t, err)
	var out api.TokenResponse
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil,
		api.TokenRequest{GrantType: "client_credentials", ClientID: a.ClientID, ClientSecret: a.ClientSecret}, &out))
	return out.AccessToken, a.ClientID
}

// userToken creates a user in groups and returns its access token and ID.
func (e *env) userToken(t testing.TB, name string, groups ...string) (tok, id string) {
	t.Helper()
	const pw = "violet-Harbor-quartz-31"
	u, err := e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: name, Email: name + "@example.test", Password: pw, Groups: groups})
	require.NoError(t, err)
	code, out, _ := e.passwordLogin(t, name, pw)
	require.Equal(t, http.StatusOK, code)
	return out.AccessToken, u.ID
}

// denyReasons lists the reasons of the audited denials, in order.
func (e *env) denyReasons(t testing.TB) []string {
	t.Helper()
	require.NoError(t, e.al.Sync())
	var out []string
	require.NoError(t, audit.Scan(e.st, 1, func(en storeEntry) (bool, error) {
		if en.Type == "authz.deny" {
			out = append(out, en.Detail["reason"])
		}
		return true, nil
	}))
	return out
}

// req is a /v1/authorize body.
func req(sub, product, resource, action string) api.AuthorizeRequest {
	return api.AuthorizeRequest{Sub: sub, Product: product, Resource: resource, Action: action}
}

type decisionCase struct {
	name   string
	req    api.AuthorizeRequest
	want   bool
	reason string // the audited reason of a denial
}

func runDecisions(t *testing.T, e *env, tok string, cases []decisionCase) {
	t.Helper()
	for _, tc := range cases {
		before := len(e.denyReasons(t))
		code, d := e.authorize(t, tok, tc.req)
		require.Equal(t, http.StatusOK, code, tc.name)
		require.Equal(t, tc.want, d.Authorized, tc.name)
		reasons := e.denyReasons(t)
		if tc.want {
			require.Len(t, reasons, before, "%s: a granted decision is not audited as a denial", tc.name)
			continue
		}
		require.Len(t, reasons, before+1, "%s: every denial is audited", tc.name)
		require.Equal(t, tc.reason, reasons[before], tc.name)
	}
}

// An application token, as lib-auth v2.9 asks about it (the role subject
// "admin/<P>-editor-role" and no product) and as newer lib-auth's M2M
// inversion does (its own subject): always the application's own grants.
func TestAuthorizeApplication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	tok, clientID := e.appToken(t, "ledger-sync", "midaz-viewer-group", e.crmViewer(t))
	runDecisions(t, e, tok, []decisionCase{
		{"role subject: the product is midaz", req("admin/midaz-editor-role", "", "accounts", "get"), true, ""},
		{"role subject: the app's own grants, not the editor role's", req("admin/midaz-editor-role", "", "accounts", "delete"), false, "no-permission"},
		{"role subject with the same product", req("admin/midaz-editor-role", "midaz", "accounts", "head"), true, ""},
		{"role subject with another product", req("admin/midaz-editor-role", "plugin-crm", "accounts", "get"), false, "product-mismatch"},
		{"plugin role subject", req("admin/plugin-crm-editor-role", "", "contacts", "get"), true, ""},
		{"plugin role subject, not granted", req("admin/plugin-crm-editor-role", "", "contacts", "post"), false, "no-permission"},
		{"plugin role subject does not reach midaz grants", req("admin/plugin-crm-editor-role", "", "ledgers", "patch"), false, "no-permission"},
		{"plugin role subject with midaz as product", req("admin/plugin-crm-editor-role", "midaz", "accounts", "get"), false, "product-mismatch"},
		{"role subject naming no product", req("admin/-editor-role", "", "accounts", "get"), false, "role-no-product"},
		{"role subject naming no valid product", req("admin/a/b-editor-role", "", "accounts", "get"), false, "role-no-product"},
		{"role subject with a space", req("admin/mid az-editor-role", "mid az", "accounts", "get"), false, "role-no-product"},
		{"another role is another principal", req("admin/midaz-viewer-role", "", "accounts", "get"), false, "sub-mismatch"},
		{"own subject, owner-qualified, default product", req("lerian/"+clientID, "", "accounts", "get"), true, ""},
		{"own bare subject, plugin product", req(clientID, "plugin-crm", "contacts", "head"), true, ""},
		{"own subject, not granted", req(clientID, "midaz", "accounts", "post"), false, "no-permission"},
		{"another principal", req("lerian/other-app", "midaz", "accounts", "get"), false, "sub-mismatch"},
		{"another owner", req("acme/"+clientID, "midaz", "accounts", "get"), false, "sub-mismatch"},
	})
}

// A user token: <owner>/<sub> with the body's product, else the default
// product; never the role subject.
func TestAuthorizeUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	tok, id := e.userToken(t, "viewer", "midaz-viewer-group", e.crmViewer(t))
	runDecisions(t, e, tok, []decisionCase{
		{"lib-auth v2.9: owner/sub and product", req("lerian/"+id, "midaz", "accounts", "get"), true, ""},
		{"lib-auth v2.4-v2.8: no product, the default", req("lerian/"+id, "", "accounts", "get"), true, ""},
		{"no product, not granted", req("lerian/"+id, "", "accounts", "delete"), false, "no-permission"},
		{"plugin product", req("lerian/"+id, "plugin-crm", "contacts", "get"), true, ""},
		{"plugin product, not granted", req("lerian/"+id, "plugin-crm", "contacts", "patch"), false, "no-permission"},
		{"a user may not use the role subject", req("admin/midaz-editor-role", "", "accounts", "get"), false, "sub-mismatch"},
		{"another principal", req("lerian/someone-else", "midaz", "accounts", "get"), false, "sub-mismatch"},
	})
}

// With default_product = "" a check without a product is decided on
// grants without a product only: a product-scoped grant does not answer
// it. The role subject still carries its product.
func TestAuthorizeWithoutDefaultProduct(t *testing.T) {
	t.Parallel()
	e := newEnvProduct(t, token.DefaultConfig(), "")
	utok, id := e.userToken(t, "viewer", "midaz-viewer-group", "identity-editor-group")
	atok, clientID := e.appToken(t, "ledger-sync", "midaz-viewer-group")
	runDecisions(t, e, utok, []decisionCase{
		{"user, no product", req("lerian/"+id, "", "accounts", "get"), false, "no-permission"},
		{"user, product named", req("lerian/"+id, "midaz", "accounts", "get"), true, ""},
		{"user, identity grant, its product named", req("lerian/"+id, "identity", "users", "get"), true, ""},
		{"user, identity grant, no product", req("lerian/"+id, "", "users", "get"), false, "no-permission"},
	})
	runDecisions(t, e, atok, []decisionCase{
		{"app's own subject, no product", req(clientID, "", "accounts", "get"), false, "no-permission"},
		{"role subject", req("admin/midaz-editor-role", "", "accounts", "get"), true, ""},
	})
}

// GET /v1/permissions and /v1/permissions/ for every seeded group, with
// and without ?product, against golden files.
func TestPermissionsGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	crm := e.crmViewer(t)
	groups := []string{crm}
	for _, g := range directory.DefaultGroups() {
		groups = append(groups, g.Name)
	}
	for i, g := range groups {
		tok, _ := e.userToken(t, "user"+string(rune('a'+i)), g)
		got := map[string]map[string][]string{}
		for _, q := range []string{"/v1/permissions/", "/v1/permissions?product=midaz", "/v1/permissions/?product=plugin-crm"} {
			var m map[string][]string
			require.Equal(t, http.StatusOK, e.do(t, "GET", q, map[string]string{"Authorization": "Bearer " + tok}, nil, &m), q)
			require.NotNil(t, m, q)
			got[q] = m
		}
		var bare map[string][]string
		require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/permissions", map[string]string{"Authorization": "Bearer " + tok}, nil, &bare))
		require.Equal(t, got["/v1/permissions/"], bare, "with and without the trailing slash")
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		testkit.Golden(t, "permissions/"+g+".json", append(b, '\n'))
	}
}

func TestPermissionsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	tok, _ := e.userToken(t, "viewer", "midaz-viewer-group")
	auth := map[string]string{"Authorization": "Bearer " + tok}
	var fail api.Error
	require.Equal(t, http.StatusBadRequest, e.do(t, "GET", "/v1/permissions?product=midaz/x", auth, nil, &fail))
	require.Contains(t, fail.Message, "product")
	require.Equal(t, "AUT-0004", fail.Code, "a bad query parameter is Lerian's AUT-0004")
	require.Equal(t, http.StatusBadRequest, e.do(t, "GET", "/v1/permissions?product=", auth, nil, &fail))
	require.Equal(t, http.StatusUnauthorized, e.do(t, "GET", "/v1/permissions/", nil, nil, &fail))
	require.Equal(t, http.StatusNotFound, e.do(t, "GET", "/v1/permissions/users", auth, nil, nil))
}

// listed reads a permissions answer: a resource's own entry when it has
// one, else "*"'s; an action is listed by itself or by "*".
func listed(m map[string][]string, resource, action string) bool {
	acts, ok := m[resource]
	if !ok {
		acts = m["*"]
	}
	return slices.Contains(acts, action) || slices.Contains(acts, "*")
}

// GET /v1/permissions and the decisions agree on every (resource,
// action) of every seeded group: the listing with ?product=P against a
// decision about P, and the listing without a product against the
// default product's decisions and, for the Identity resources, the
// Identity routes' own (which decide in product identity).
func TestPermissionsAgreeWithDecisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	groups := []string{e.crmViewer(t)}
	resources := []string{"*", "accounts", "ledgers", "organizations", "transactions", "contacts", "holders", "nonexistent"}
	resources = append(resources, directory.Resources...)
	for _, g := range directory.DefaultGroups() {
		groups = append(groups, g.Name)
		for _, p := range g.Permissions {
			resources = append(resources, p.Resource)
		}
	}
	slices.Sort(resources)
	resources = slices.Compact(resources)
	actions := []string{"*", "get", "head", "post", "put", "patch", "delete", "options", "purge"}
	for i, g := range groups {
		tok, id := e.userToken(t, "user"+string(rune('a'+i)), g)
		auth := map[string]string{"Authorization": "Bearer " + tok}
		for _, product := range []string{"", "midaz", "plugin-crm", "plugin-fees"} {
			path := "/v1/permissions/"
			if product != "" {
				path += "?product=" + product
			}
			var m map[string][]string
			require.Equal(t, http.StatusOK, e.do(t, "GET", path, auth, nil, &m))
			for _, r := range resources {
				for _, a := range actions {
					decided := product
					if product == "" {
						decided = "midaz"
						if slices.Contains(directory.Resources, r) {
							decided = directory.IdentityProduct
						}
					}
					require.Equal(t, e.idx.Allowed(id, decided, r, a), listed(m, r, a),
						"group %s, %s: %s %s (decided on product %q)", g, path, a, r, decided)
				}
			}
		}
		// And through /v1/authorize itself, for the default product.
		var m map[string][]string
		require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/permissions?product=midaz", auth, nil, &m))
		for _, r := range []string{"accounts", "users", "*"} {
			for _, a := range []string{"get", "delete"} {
				code, d := e.authorize(t, tok, api.AuthorizeRequest{Sub: "lerian/" + id, Resource: r, Action: a})
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, listed(m, r, a), d.Authorized, "group %s: %s %s", g, a, r)
			}
		}
	}
}

// FuzzAuthorizeBody: whatever sub, product, resource and action the body
// carries, an application granted only "get" on midaz's accounts is
// allowed nothing else, in no other product, as no other principal.
func FuzzAuthorizeBody(f *testing.F) {
	e := newEnv(f, token.DefaultConfig())
	a := e.app(f, "fuzz")
	var out api.TokenResponse
	require.Equal(f, http.StatusOK, e.postJSON(f, "/v1/login/oauth/access_token", nil,
		api.TokenRequest{GrantType: "client_credentials", ClientID: a.ClientID, ClientSecret: a.ClientSecret}, &out))
	for _, s := range [][4]string{
		{"admin/midaz-editor-role", "", "accounts", "get"},
		{"admin/midaz-editor-role", "plugin-crm", "accounts", "get"},
		{"admin/plugin-crm-editor-role", "", "accounts", "get"},
		{"admin/-editor-role", "", "accounts", "GET"},
		{"lerian/" + a.ClientID, "", "accounts", "get"},
		{a.ClientID, "midaz", "*", "*"},
		{"lerian/other", "midaz", "accounts", "get"},
		{"admin/midaz/x-editor-role", "midaz/x", "accounts", "get"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	own := []string{"", a.ClientID, "lerian/" + a.ClientID, "admin/midaz-editor-role"}
	f.Fuzz(func(t *testing.T, sub, product, resource, action string) {
		body, err := json.Marshal(map[string]string{"sub": sub, "product": product, "resource": resource, "action": action})
		require.NoError(t, err)
		w := serve(e, "POST", "/v1/authorize", "application/json", out.AccessToken, string(body))
		require.Less(t, w.Code, 500, w.Body.String())
		if w.Code != http.StatusOK {
			return
		}
		var d api.AuthorizeResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &d))
		if d.Authorized {
			require.True(t, strings.EqualFold(action, "get") && resource == "accounts" && (product == "" || product == "midaz") && slices.Contains(own, sub),
				"allowed %s", body)
		}
	})
}

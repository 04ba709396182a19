package token_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
	"github.com/accessd/accessd/store/storetest/testkit"
)

var admin = change.Actor{Name: "uid:0", Source: "admin-socket", Admin: true}

// env is the data plane as the daemon wires it, over a real store and
// real TLS (httptest's TLS server).
type env struct {
	st    *store.Store
	al    *audit.Log
	idx   *authz.Index
	id    *directory.Service
	rooms directorytest.Rooms
	tok   *token.Server
	clock *testkit.Clock
	srv   *httptest.Server
	hc    *http.Client
}

const issuer = "https://accessd.test"

func newEnv(t testing.TB, cfg token.Config) *env {
	t.Helper()
	return newEnvProduct(t, cfg, "midaz")
}

// newEnvProduct is newEnv with [authz] default_product set to product.
func newEnvProduct(t testing.TB, cfg token.Config, product string) *env {
	t.Helper()
	st := storetest.Open(t)
	al, err := audit.Open(st, storetest.Queue(t, st), audit.Options{})
	require.NoError(t, err)
	c := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	h, err := credential.NewHasher(credential.HasherOptions{Params: credential.TestParams()})
	require.NoError(t, err)
	idx := authz.New()
	r := directorytest.Wire(t, st, al, idx, directory.Config{}, c.Now, h)
	svc := r.Service
	_, _, err = svc.Bootstrap(context.Background())
	require.NoError(t, err)
	tok, err := token.New(st, cfg, tokenOptions(r, al, idx, c, issuer, product))
	require.NoError(t, err)
	srv := httptest.NewTLSServer(edge.Data(edge.Planes{Identity: svc, MFA: r.Enrolment, Tokens: tok, Index: idx, Audit: al, Now: c.Now}))
	t.Cleanup(func() { srv.Close(); tok.Close(); al.Close() })
	return &env{st: st, al: al, idx: idx, id: svc, rooms: r, tok: tok, clock: c, srv: srv, hc: srv.Client()}
}

// tokenOptions wires a token server to the rooms r as the daemon does.
func tokenOptions(r directorytest.Rooms, al *audit.Log, idx *authz.Index, c *testkit.Clock, iss, product string) token.Options {
	return token.Options{Issuer: iss, Owner: "lerian", Sessions: r.Service, Clients: r.Clients, ClientAuth: r.Clients, SignIn: r.SignIn,
		SecondFactor: r.SignIn, Audit: al, Subjects: idx, Now: c.Now, DefaultProduct: product}
}

func ctx() context.Context { return context.Background() }

// app makes a group with one grant and an application in it.
func (e *env) app(t testing.TB, name string) api.CreatedApplication {
	t.Helper()
	_, err := e.id.Groups().CreateGroup(ctx(), admin, api.CreateGroupRequest{Name: name + "-group"})
	require.NoError(t, err)
	_, err = e.id.Groups().Grant(ctx(), admin, name+"-group", api.Permission{Product: "midaz", Resource: "accounts", Action: "get"})
	require.NoError(t, err)
	a, err := e.id.Applications().CreateApplication(ctx(), admin, api.CreateApplicationRequest{Name: name, Groups: []string{name + "-group"}})
	require.NoError(t, err)
	return a
}

// user makes a user with a chosen password in a group with one grant.
func (e *env) user(t testing.TB, name, password string) api.CreatedUser {
	t.Helper()
	g := name + "-group"
	_, err := e.id.Groups().CreateGroup(ctx(), admin, api.CreateGroupRequest{Name: g})
	require.NoError(t, err)
	_, err = e.id.Groups().Grant(ctx(), admin, g, api.Permission{Product: "midaz", Resource: "ledgers", Action: "get"})
	require.NoError(t, err)
	u, err := e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: name, Email: name + "@example.test", Password: password, Groups: []string{g}})
	require.NoError(t, err)
	return u
}

// post sends a request and decodes the JSON answer into out (when not
// nil), returning the status.
func (e *env) do(t testing.TB, method, path string, hdr map[string]string, body io.Reader, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

func (e *env) postJSON(t testing.TB, path string, hdr map[string]string, in, out any) int {
	t.Helper()
	b, err := json.Marshal(in)
	require.NoError(t, err)
	if hdr == nil {
		hdr = map[string]string{}
	}
	hdr["Content-Type"] = "application/json"
	return e.do(t, "POST", path, hdr, bytes.NewReader(b), out)
}

func (e *env) postForm(t testing.TB, path string, basic [2]string, form url.Values, out any) int {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if basic[0] != "" {
		hdr["Authorization"] = "Basic " + basicOf(basic[0], basic[1])
	}
	return e.do(t, "POST", path, hdr, strings.NewReader(form.Encode()), out)
}

// authorize asks /v1/authorize with a bare token, as lib-auth does.
func (e *env) authorize(t testing.TB, tok string, body api.AuthorizeRequest) (int, api.AuthorizeResponse) {
	t.Helper()
	var out api.AuthorizeResponse
	code := e.postJSON(t, "/v1/authorize", map[string]string{"Authorization": tok}, body, &out)
	return code, out
}

// passwordLogin runs Lerian's JSON password grant.
func (e *env) passwordLogin(t testing.TB, username, password string) (int, api.TokenResponse, api.Error) {
	t.Helper()
	return e.lerianToken(t, "/v1/login/oauth/access_token", api.TokenRequest{GrantType: "password", Username: username, Password: password})
}

// lerianToken posts to one of Lerian's token endpoints and decodes the
// token object or the error, by status.
func (e *env) lerianToken(t testing.TB, path string, in any) (int, api.TokenResponse, api.Error) {
	t.Helper()
	var raw json.RawMessage
	code := e.postJSON(t, path, nil, in, &raw)
	var ok api.TokenResponse
	var fail api.Error
	if code == http.StatusOK {
		require.NoError(t, json.Unmarshal(raw, &ok))
	} else {
		require.NoError(t, json.Unmarshal(raw, &fail))
	}
	return code, ok, fail
}

type storeEntry = store.AuditEntry

func basicOf(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/edge"
)

// servePlane serves the Identity routes of one plane on a real Unix
// socket and returns a client for it. On the data plane the caller is
// named by a test header, standing in for the bearer token the OAuth
// layer will verify; the permission check under test is the real one.
func servePlane(t *testing.T, e *env, admin bool) *http.Client {
	t.Helper()
	mux := http.NewServeMux()
	plane := edge.Plane{Admin: admin, MFA: e.Enrolment, Review: e.Review, Apply: e.Apply, Audit: e.Audit, Now: e.Clock.Now, Allowed: func(id, res, act string) bool { return e.Index.Allowed(id, directory.IdentityProduct, res, act) }}
	plane.Authenticate = func(r *http.Request) (change.Actor, error) {
		if admin {
			return change.Actor{Name: "uid:0", Source: "admin-socket", Admin: true}, nil
		}
		id := r.Header.Get("X-Test-Subject")
		if id == "" {
			return change.Actor{}, fmt.Errorf("%w: no bearer", api.ErrUnauthorized)
		}
		return change.Actor{Name: "user:" + id, SubjectID: id, Source: "192.0.2.7"}, nil
	}
	edge.IdentityRoutes(mux, e.Service, plane)
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20) // what the daemon does on both planes
		mux.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

func call(t *testing.T, c *http.Client, as, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://accessd"+path, strings.NewReader(body))
	require.NoError(t, err)
	if as != "" {
		req.Header.Set("X-Test-Subject", as)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDataPlaneLeastPrivilege(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	c := servePlane(t, e, false)
	editor := e.User(t, "editor", "identity-editor-group")
	viewer := e.User(t, "viewer", "midaz-viewer-group")

	code, body := call(t, c, "", "GET", "/v1/users", "")
	require.Equal(t, 401, code, body)

	code, body = call(t, c, editor.ID, "POST", "/v1/users", `{"username":"newbie","email":"newbie@example.com"}`)
	require.Equal(t, 201, code, body)

	code, body = call(t, c, viewer.ID, "POST", "/v1/users", `{"username":"sneaky","email":"sneaky@example.com"}`)
	require.Equal(t, 403, code, body)
	require.Contains(t, body, `"AUT-0403"`)
	denied, err := e.Review.AuditList(time.Time{}, "authz.denied", 0)
	require.NoError(t, err)
	require.Len(t, denied, 1, "every denied decision is audited")
	require.Equal(t, "user:"+viewer.ID, denied[0].Actor)

	// Self-service: a user reads their own record and nobody else's.
	code, _ = call(t, c, viewer.ID, "GET", "/v1/users/"+viewer.ID, "")
	require.Equal(t, 200, code)
	code, _ = call(t, c, viewer.ID, "GET", "/v1/users/"+editor.ID, "")
	require.Equal(t, 403, code)
	code, body = call(t, c, viewer.ID, "PATCH", "/v1/users/"+viewer.ID+"/update-password",
		fmt.Sprintf(`{"oldPassword":%q,"newPassword":"plum-Harbor-vector-88"}`, viewer.Password))
	require.Equal(t, 204, code, body)

	// The identity editor may manage applications, but minting secrets
	// on the data plane also needs a recent second-factor sign-in.
	code, body = call(t, c, editor.ID, "POST", "/v1/applications", `{"name":"svc"}`)
	require.Equal(t, 403, code, body)
	require.Contains(t, body, `"AUT-0407"`)
	require.Contains(t, body, "sign in again")

	// Admin-only routes do not exist on the data plane.
	code, _ = call(t, c, editor.ID, "GET", "/v1/audit", "")
	require.Equal(t, 404, code)
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	c := servePlane(t, e, true)
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		says                     string
	}{
		{"unknown field named", "POST", "/v1/users", `{"username":"a1","email":"a1@example.com","usrname":"x"}`, 400, `\"usrname\"`},
		{"wrong type named", "POST", "/v1/users", `{"username":"a1","email":"a1@example.com","groups":"admin-group"}`, 400, `field \"groups\" must be an array`},
		{"missing fields", "POST", "/v1/users", `{"email":"a1@example.com"}`, 400, "AUT-0001"},
		{"over the limit", "POST", "/v1/groups", `{"name":"` + strings.Repeat("g", 2<<20) + `"}`, 413, "AUT-0413"},
		{"weak password", "POST", "/v1/users", `{"username":"a2","email":"a2@example.com","password":"abcde"}`, 400, "AUT-0406"},
		{"not found", "GET", "/v1/users/nobody", "", 404, "AUT-0404"},
		{"exists", "POST", "/v1/groups", `{"name":"admin-group"}`, 409, "AUT-0409"},
		{"truncated optional body", "POST", "/v1/applications/nobody/rotate", `{"grace":"0s"`, 400, "AUT-0009"},
		{"escape in a name", "POST", "/v1/users", `{"username":"a3","email":"a3@example.com","firstName":"\u001b[31mroot"}`, 400, "control"},
		{"bidi override in a name", "POST", "/v1/groups", `{"name":"g1","description":"\u202eevil"}`, 400, "bidirectional"},
		{"bad policy key", "POST", "/v1/apply", "[[group]]\nname = \"x\"\nbogus = 1\n", 400, "bogus"},
		{"unexpected field is Lerian's code", "POST", "/v1/users", `{"username":"a4","email":"a4@example.com","usrname":"x"}`, 400, "AUT-0003"},
		{"limit out of range", "GET", "/v1/users?limit=0", "", 400, "AUT-0004"},
		{"page not a number", "GET", "/v1/groups?page=two", "", 400, "AUT-0004"},
		{"limit over the cap", "GET", "/v1/applications?limit=1001", "", 400, "AUT-0004"},
		{"limit repeated", "GET", "/v1/providers?limit=1&limit=2", "", 400, "AUT-0004"},
		{"control character in a path parameter", "GET", "/v1/users/a%01b", "", 400, "AUT-0002"},
		{"over-long path parameter", "GET", "/v1/groups/" + strings.Repeat("g", 300), "", 400, "AUT-0002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, c, "", tc.method, tc.path, tc.body)
			require.Equal(t, tc.code, code, body)
			require.Contains(t, body, tc.says)
			var e api.Error
			require.NoError(t, json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&e), "errors are Lerian's {code,title,message}")
			require.NotEmpty(t, e.Code)
			require.NotEmpty(t, e.Title)
		})
	}
}

// TestIdentityEditorCannotEscalate: the least-privilege role manages
// identities but cannot make anyone, itself included, more than it is
// (a review found each of these open).
func TestIdentityEditorCannotEscalate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	c := servePlane(t, e, false)
	editor := e.User(t, "editor", "identity-editor-group")
	admin, err := e.Service.Users().GetUser("admin")
	require.NoError(t, err)
	other := e.User(t, "other")
	for _, tc := range []struct{ name, method, path, body string }{
		{"join admin-group", "POST", "/v1/groups/admin-group/members", `{"member":"user:editor"}`},
		{"grant itself everything", "POST", "/v1/groups/identity-editor-group/permissions", `{"resource":"*","action":"*"}`},
		{"move itself to admin-group", "PATCH", "/v1/users/" + editor.ID, `{"groups":["admin-group"]}`},
		{"create an admin", "POST", "/v1/users", `{"username":"mole","email":"mole@example.com","password":"plum-Harbor-vector-88","groups":["admin-group"]}`},
		{"reset the admin's password", "PATCH", "/v1/users/" + admin.ID + "/reset-password", ``},
		{"disable the admin", "POST", "/v1/users/" + admin.ID + "/disable", ``},
		{"delete admin-group", "DELETE", "/v1/groups/admin-group", ``},
		{"mint another user's TOTP seed", "POST", "/v1/users/" + other.ID + "/mfa/setup", `{"mfaType":"app"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, c, editor.ID, tc.method, tc.path, tc.body)
			require.Equal(t, 403, code, body)
		})
	}
	still, err := e.Service.Users().GetUser(editor.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"identity-editor-group"}, still.Groups)
	require.False(t, e.Index.Allowed(editor.ID, "", "*", "*"))
	// What it holds, it may still do: manage a user with no more than it.
	code, body := call(t, c, editor.ID, "POST", "/v1/users/"+other.ID+"/disable", "")
	require.Equal(t, 200, code, body)
}

// TestChunkedTruncatedBodyRefused: an optional body sent chunked and cut
// short is an error, not "no body" (which would reset a password to a
// generated one, or rotate with the default grace).
func TestChunkedTruncatedBodyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	c := servePlane(t, e, true)
	u := e.User(t, "chunky")
	req, err := http.NewRequest("PATCH", "http://accessd/v1/users/"+u.ID+"/reset-password",
		io.NopCloser(io.MultiReader(strings.NewReader(`{"newPassword":"plum-Harbor-vector-88"`))))
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 400, resp.StatusCode, string(b))
}

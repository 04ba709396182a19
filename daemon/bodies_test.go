package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hostileBodies are request bodies built to break a decoder: each must get
// a 4xx that names the problem, never a 5xx, a panic or a hang.
var hostileBodies = []struct {
	name  string
	body  string
	code  int    // 0: any 4xx
	names string // the answer's message contains this
}{
	{"over the limit", `{"username":"` + strings.Repeat("a", maxBody) + `"}`, http.StatusRequestEntityTooLarge, "bytes"},
	{"deep nesting", `{"username":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`, 0, "JSON"},
	{"deep objects", strings.Repeat(`{"a":`, 50_000) + "1" + strings.Repeat("}", 50_000), 0, "JSON"},
	{"truncated", `{"username":`, 0, "JSON"},
	{"not JSON", `username=ana&password=x`, 0, "JSON"},
	{"trailing data", `{} {}`, 0, "after the JSON"},
	{"wrong type", `{"username":5}`, 0, `username`},
	{"wrong type, array", `{"name":["x"],"username":{"a":1}}`, 0, `"`},
	{"unknown field", `{"bogus":1}`, 0, "bogus"},
	{"invalid UTF-8", "{\"username\":\"\xff\xfe\"}", 0, "UTF-8"},
	{"invalid UTF-8 in a key", "{\"\xc0\xafname\":\"x\"}", 0, "UTF-8"},
	{"huge number", `{"username":1e999999}`, 0, `username`},
	{"NUL bytes", "{\"username\":\"a\x00b\"}", 0, "JSON"},
}

// hostileRoute is one route that reads a body. auth: the route checks a
// credential first, so a 401 that names the credential is a fine answer.
type hostileRoute struct {
	method, path string
	auth         bool
}

func TestHostileBodies(t *testing.T) {
	t.Parallel()
	data, admin, m := testPlanes(t)

	// The data plane over TLS through the real listener chain.
	dp := startDataPlaneWith(t, data, m, dataLimits(Default().Listen), nil)
	dataClient := dp.client(0)
	dataClient.Transport.(*http.Transport).DisableKeepAlives = false

	// The admin plane on a real Unix socket behind the peer check (which
	// lets root, the test, in) with the peer credentials in the context.
	sock := filepath.Join(t.TempDir(), "admin.sock")
	raw, err := listenAdmin(sock, "accessd-admin-test-nonexistent", quiet)
	require.NoError(t, err)
	asrv := newHTTPServer(m.instrument("admin", admin), quiet)
	asrv.ConnContext = connContext
	go asrv.Serve(&peerListener{Listener: raw, allow: newPeerPolicy("accessd-admin-test-nonexistent").allows, log: quiet})
	t.Cleanup(func() { asrv.Close() })
	adminClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}

	planes := []struct {
		name   string
		base   string
		client *http.Client
		routes []hostileRoute
	}{
		{"data", "https://" + dp.addr, dataClient, []hostileRoute{
			{"POST", "/v1/login/oauth/access_token", false},
			{"POST", "/v1/login/oauth/refresh_token", false},
			{"POST", "/v1/login/mfa/verify", false},
			{"POST", "/v1/authorize", true},
			{"POST", "/v1/users", true},
		}},
		{"admin", "http://accessd", adminClient, []hostileRoute{
			{"POST", "/v1/users", false},
			{"PATCH", "/v1/users/00000000-0000-0000-0000-000000000000", false},
			{"POST", "/v1/groups", false},
			{"POST", "/v1/groups/admin/permissions", false},
			{"POST", "/v1/groups/admin/members", false},
			{"POST", "/v1/applications", false},
			{"PATCH", "/v1/users/00000000-0000-0000-0000-000000000000/reset-password", false},
		}},
	}
	for _, pl := range planes {
		for _, rt := range pl.routes {
			for _, b := range hostileBodies {
				t.Run(pl.name+" "+rt.method+" "+rt.path+" "+b.name, func(t *testing.T) {
					req, err := http.NewRequest(rt.method, pl.base+rt.path, strings.NewReader(b.body))
					require.NoError(t, err)
					req.Header.Set("Content-Type", "application/json")
					checkHostileAnswer(t, pl.client, req, b.code, b.names, rt.auth)
				})
			}
		}
	}

	// The form face of OAuth (RFC 6749) on the data plane.
	forms := []struct {
		name  string
		body  string
		code  int
		names string
	}{
		{"over the limit", "grant_type=password&username=" + strings.Repeat("a", maxBody), http.StatusRequestEntityTooLarge, "bytes"},
		{"invalid UTF-8", "grant_type=password&username=\xff\xfe&password=x", 0, "form"},
		{"invalid UTF-8, percent-encoded", "grant_type=password&username=%ff%fe&password=x", 0, ""},
		{"bad escape", "grant_type=password&username=%zz", 0, "form"},
		{"repeated parameter", "grant_type=password&grant_type=client_credentials", 0, "repeated"},
		{"JSON instead", `{"grant_type":"password"}`, 0, ""},
	}
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke"} {
		for _, f := range forms {
			t.Run("data POST "+path+" "+f.name, func(t *testing.T) {
				req, err := http.NewRequest("POST", "https://"+dp.addr+path, strings.NewReader(f.body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				checkHostileAnswer(t, dataClient, req, f.code, f.names, path != "/oauth/token")
			})
		}
	}
}

// checkHostileAnswer sends req and holds the answer to the contract: a
// 4xx (code, when given), Lerian's error shape, a message naming the
// problem (unless the route refused the credential first).
func checkHostileAnswer(t *testing.T, c *http.Client, req *http.Request, code int, names string, auth bool) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil && code == http.StatusRequestEntityTooLarge {
		return // the server may hang up on a huge body before the client sent it all; a refusal too
	}
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.Less(t, resp.StatusCode, 500, "never a 5xx: %s", body)
	require.GreaterOrEqual(t, resp.StatusCode, 400, "a hostile body is refused: %s", body)
	if auth && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return
	}
	if code != 0 {
		require.Equal(t, code, resp.StatusCode, "%s", body)
	}
	// Lerian's error shape, or RFC 6749's on the form face.
	var e struct {
		Code, Title, Message string
		Error                string `json:"error"`
		Description          string `json:"error_description"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "an error document: %s", body)
	msg := e.Message
	if e.Code == "" {
		require.NotEmpty(t, e.Error, "%s", body)
		msg = e.Description
	} else {
		require.True(t, strings.HasPrefix(e.Code, "AUT-"), "%s", body)
	}
	require.NotEmpty(t, msg)
	require.Contains(t, msg, names, "the answer names the problem")
	require.False(t, bytes.Contains(body, []byte("\xff")), "the bad bytes are not echoed")
}

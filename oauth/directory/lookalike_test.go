package directory_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/store"
)

// lookAlikeClientID is an imported application's client ID without the
// minted form, so only its being taken keeps a user from the name.
const lookAlikeClientID = "Midaz-Console"

// plant renames a user in the store itself, past the directory's rules:
// a look-alike as a store from before the rules may hold one.
func plant(t *testing.T, e *env, id, username string) {
	t.Helper()
	_, err := e.Store.Users().Update(id, func(u store.User) (store.User, error) { u.Username = username; return u, nil })
	require.NoError(t, err)
}

// TestLookAlikeUsernamesRefused: an identity editor cannot create a user
// named like an application (its client ID, record ID or name, case
// folded) or like any record ID or client ID, and an application cannot
// take a user's name; the refusal is a 400 that says why.
func TestLookAlikeUsernamesRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "ledger"})
	require.NoError(t, err)
	file := `{"applications":[{"id":"019c96a0-0c0c-7221-8cf3-13313fb60099","clientId":"` + lookAlikeClientID +
		`","clientSecret":"0123456789abcdef0123456789abcdef0123","name":"console","description":"","createdAt":""}]}`
	_, err = e.Service.Importer().Import(ctx, admin, []byte(file), false)
	require.NoError(t, err)
	c := servePlane(t, e, false)
	editor := e.User(t, "editor", "identity-editor-group")
	for _, tc := range []struct{ name, username, says string }{
		{"an application's client ID", app.ClientID, "form of an application's client ID"},
		{"an application's client ID in capitals", strings.ToUpper(app.ClientID), "form of an application's client ID"},
		{"an application's record ID", app.ID, "form of a record ID"},
		{"an application's name", "Ledger", "username is an application's name"},
		{"an imported client ID, case-folded", strings.ToLower(lookAlikeClientID), "username is an application's client ID"},
		{"any record ID", "3f2c9a1e-5b7d-4c2e-9f10-2a3b4c5d6e7f", "form of a record ID"},
		{"any client ID's form", "b6e3a7f8d9c0e1f2a3b4", "form of an application's client ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, c, editor.ID, "POST", "/v1/users", fmt.Sprintf(`{"username":%q,"email":"look@example.com"}`, tc.username))
			require.Equal(t, 400, code, body)
			require.Contains(t, body, `"AUT-0400"`)
			require.Contains(t, body, tc.says)
		})
	}
	n, err := e.Service.Users().ListUsers(1, 0, "", "")
	require.NoError(t, err)
	require.Len(t, n.Items, 2, "only the admin and the editor")

	// An application may not take a user's name either, in any case.
	_, err = e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "Editor"})
	require.ErrorIs(t, err, api.ErrInvalidField)
	require.Contains(t, err.Error(), "is a user's username")

	// Names that only come close stay free.
	e.User(t, "ledger-ops")
	e.User(t, "midaz-console-ops")
	_, err = e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "editor-sync"})
	require.NoError(t, err)
}

// TestAddMemberLookAlikeRefused is the attack an identity editor ran:
// a user named after an application's client ID (planted before the
// username rule), then an admin's `group add-member GROUP <clientId>`.
// A bare name that names a user and an application is refused, naming
// both; user:X and app:X say which.
func TestAddMemberLookAlikeRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "midaz"})
	require.NoError(t, err)
	byClientID := e.User(t, "planted1")
	plant(t, e, byClientID.ID, app.ClientID)
	byID := e.User(t, "planted2")
	plant(t, e, byID.ID, app.ID)
	const group = "midaz-editor-group"
	groups := e.Service.Groups()

	for ref, planted := range map[string]string{app.ClientID: byClientID.ID, app.ID: byID.ID} {
		_, err = groups.AddMember(ctx, admin, group, ref)
		require.ErrorIs(t, err, api.ErrInvalidField, ref)
		for _, want := range []string{"user:" + ref, "app:" + app.ClientID, planted, app.ID, "write user:" + ref + " or app:" + ref} {
			require.Contains(t, err.Error(), want)
		}
	}
	ms, err := groups.Members(group)
	require.NoError(t, err)
	require.Empty(t, ms, "nobody was added")

	// The routes behind accessctl add-member and remove-member.
	c := servePlane(t, e, true)
	code, body := call(t, c, "", "POST", "/v1/groups/"+group+"/members", `{"member":"`+app.ClientID+`"}`)
	require.Equal(t, 400, code, body)
	require.Contains(t, body, "names two subjects")

	// A kind says which.
	_, err = groups.AddMember(ctx, admin, group, "app:"+app.ClientID)
	require.NoError(t, err)
	code, body = call(t, c, "", "DELETE", "/v1/groups/"+group+"/members/"+app.ClientID, "")
	require.Equal(t, 400, code, body)
	ms, err = groups.Members(group)
	require.NoError(t, err)
	require.Equal(t, []api.Member{{Kind: store.MemberApp, ID: app.ID, Name: app.ClientID}}, ms)
	_, err = groups.AddMember(ctx, admin, group, "user:"+app.ClientID)
	require.NoError(t, err, "naming the planted user as a user is the admin's explicit choice")
	ms, err = groups.Members(group)
	require.NoError(t, err)
	require.Len(t, ms, 2)

	// A name only one record answers to needs no kind.
	_, err = groups.AddMember(ctx, admin, group, "editor-two")
	require.ErrorIs(t, err, api.ErrNotFound)
	e.User(t, "editor-two")
	_, err = groups.AddMember(ctx, admin, group, "editor-two")
	require.NoError(t, err)
}

// TestAppTokenCannotReachUserNamedAfterIt: the data plane's "acting on
// yourself" check runs on the record the path resolves to, not on the
// path. An application's token whose path is its own record ID does not
// reach a user planted with that ID as username: enrolling TOTP for it
// is refused and no seed is written.
func TestAppTokenCannotReachUserNamedAfterIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "svc"})
	require.NoError(t, err)
	planted := e.User(t, "planted")
	plant(t, e, planted.ID, app.ID)
	uma := e.User(t, "uma")

	mux := http.NewServeMux()
	edge.IdentityRoutes(mux, e.Service, edge.Plane{MFA: e.Enrolment, Audit: e.Audit, Now: e.Clock.Now,
		Allowed: func(id, res, act string) bool { return e.Index.Allowed(id, "", res, act) },
		Authenticate: func(r *http.Request) (change.Actor, error) {
			// As oauth/token names a bearer: an application's token is
			// "app:<clientId>", with its record ID as subject.
			if r.Header.Get("X-Test-App") != "" {
				return change.Actor{Name: "app:" + app.ClientID, SubjectID: app.ID, Source: "192.0.2.8"}, nil
			}
			return change.Actor{Name: "user:" + uma.ID, SubjectID: uma.ID, Source: "192.0.2.7"}, nil
		}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	do := func(asApp bool, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if asApp {
			req.Header.Set("X-Test-App", "1")
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := do(true, "POST", "/v1/users/"+app.ID+"/mfa/setup", `{"mfaType":"app"}`)
	require.Equal(t, 403, code, body)
	cred, err := e.Store.Credentials().Get(planted.ID)
	require.NoError(t, err)
	require.Empty(t, cred.TOTPSeed, "no seed was minted for the planted user")
	for _, p := range []string{"/v1/users/" + app.ID, "/v1/users/" + app.ID + "/mfa"} {
		code, body = do(true, "GET", p, "")
		require.Equal(t, 403, code, p+": "+body)
	}

	// A user acts on itself by ID or by username: both resolve to its
	// own record.
	for _, ref := range []string{uma.ID, "uma", "UMA"} {
		code, body = do(false, "GET", "/v1/users/"+ref, "")
		require.Equal(t, 200, code, ref+": "+body)
		require.Contains(t, body, uma.ID)
	}
	code, body = do(false, "GET", "/v1/users/"+app.ID, "")
	require.Equal(t, 403, code, body)
}

// TestImportLookAlikeRefused: a Lerian import whose user is named like
// an application (in accessd or in the file) or like a record ID, or
// whose application is named like a user, is refused as a conflict and
// reported record by record, never renamed; nothing is written.
func TestImportLookAlikeRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "ledger"})
	require.NoError(t, err)
	e.User(t, "billing")
	user := func(id, name string) string {
		return `{"id":"` + id + `","username":"` + name + `","email":"` + strings.ReplaceAll(name, "-", "") + `@example.com","firstName":"F","lastName":"L","groups":[]}`
	}
	file := `{"users":[` + strings.Join([]string{
		user("019c96a0-0c21-71f9-a487-66a125827801", app.ClientID),
		user("019c96a0-0c21-71f9-a487-66a125827802", "Ledger"),
		user("019c96a0-0c21-71f9-a487-66a125827803", "019c96a0-0c0c-7221-8cf3-13313fb60081"),
		user("019c96a0-0c21-71f9-a487-66a125827804", "console-admin"),
		user("019c96a0-0c21-71f9-a487-66a125827805", "fine-user"),
	}, ",") + `],"applications":[` +
		`{"id":"019c96a0-0c0c-7221-8cf3-13313fb60081","clientId":"` + lookAlikeClientID + `","clientSecret":"0123456789abcdef0123456789abcdef0123","name":"Console-Admin","description":"","createdAt":""},` +
		`{"id":"019c96a0-0c0c-7221-8cf3-13313fb60082","clientId":"billing","clientSecret":"0123456789abcdef0123456789abcdef0124","name":"b","description":"","createdAt":""}]}`
	dry, err := e.Service.Importer().Import(ctx, admin, []byte(file), true)
	require.NoError(t, err)
	got := map[string]api.ImportRecord{}
	for _, r := range dry.Records {
		got[r.Kind+" "+r.Name] = r
	}
	for name, says := range map[string]string{
		"user " + app.ClientID: "form of a client ID",
		"user ledger":          "an application's name",
		"user 019c96a0-0c0c-7221-8cf3-13313fb60081": "form of a record ID",
		"user console-admin":                        "an application's name",
		"application " + lookAlikeClientID:          `its name is a user's username ("console-admin")`,
		"application billing":                       `its clientId is a user's username ("billing")`,
	} {
		require.Equal(t, directory.ImportConflict, got[name].Action, name)
		require.Contains(t, got[name].Detail, says, name)
	}
	require.Equal(t, directory.ImportCreate, got["user fine-user"].Action)
	_, err = e.Service.Importer().Import(ctx, admin, []byte(file), false)
	require.ErrorIs(t, err, api.ErrConflict)
	_, err = e.Service.Users().GetUser("fine-user")
	require.ErrorIs(t, err, api.ErrNotFound, "an import with a look-alike writes nothing")
}

// TestAmbiguousMemberPerTenant: the candidates of a bare member are the
// records the caller's tenant sees, so a tenant's caller is neither
// refused over, nor told of, another tenant's application; the admin
// socket, which sees both, is refused.
func TestAmbiguousMemberPerTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "t2-app", TenantID: "t-2"})
	require.NoError(t, err)
	boss, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "boss-t1", Email: "boss@example.com", TenantID: "t-1"})
	require.NoError(t, err)
	mate, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "mate-t1", Email: "mate@example.com", TenantID: "t-1"})
	require.NoError(t, err)
	plant(t, e, mate.ID, app.ClientID)
	_, err = e.Service.Groups().CreateGroup(ctx, admin, api.CreateGroupRequest{Name: "t1-ops", TenantID: "t-1"})
	require.NoError(t, err)

	_, err = e.Service.Groups().AddMember(ctx, admin, "t1-ops", app.ClientID)
	require.ErrorIs(t, err, api.ErrInvalidField)
	_, err = e.Service.Groups().AddMember(ctx, bearer(boss), "t1-ops", app.ClientID)
	require.NoError(t, err)
	ms, err := e.Service.Groups().Members("t1-ops")
	require.NoError(t, err)
	require.Equal(t, []api.Member{{Kind: store.MemberUser, ID: mate.ID, Name: app.ClientID}}, ms)
}

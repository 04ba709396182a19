package login_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/oauth/review"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// env is one test's directory and the sign-in rooms over it
// (directorytest), on a movable clock and with cheap argon2id costs.
type env struct {
	st      *store.Store
	log     *audit.Log
	idx     *authz.Index
	svc     *directory.Service
	signIn  *login.SignIn
	mfa     *login.Enrolment
	clients *login.Clients
	rev     *review.Admin // reads the audit log back
	clock   *testkit.Clock
}

var admin = directorytest.Admin

func newEnv(t testing.TB, cfg directory.Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, credential.HasherOptions{})
}

// newEnvWith is newEnv hashing with ho (zero Params: cheap).
func newEnvWith(t testing.TB, cfg directory.Config, ho credential.HasherOptions) *env {
	t.Helper()
	ie := directorytest.Open(t, cfg, ho)
	rev := review.New(ie.Store, review.Options{Audit: ie.Audit, Index: ie.Index, Now: ie.Clock.Now})
	return &env{st: ie.Store, log: ie.Audit, idx: ie.Index, svc: ie.Service, signIn: ie.SignIn, mfa: ie.Enrolment, clients: ie.Clients, rev: rev, clock: ie.Clock}
}

// user makes a user with a generated password and an e-mail address.
func (e *env) user(t *testing.T, name string, groups ...string) api.CreatedUser {
	t.Helper()
	u, err := e.svc.Users().CreateUser(context.Background(), admin, api.CreateUserRequest{Username: name, Email: name + "@example.com", Groups: groups})
	require.NoError(t, err)
	return u
}

// routes are the Identity routes of one plane over e, as oauth/edge
// registers them. On the data plane the caller is named by a test
// header, standing in for the bearer token; the permission check is the
// real one.
func (e *env) routes(admin bool) http.Handler {
	mux := http.NewServeMux()
	plane := edge.Plane{Admin: admin, MFA: e.mfa, Review: e.rev, Audit: e.log, Now: e.clock.Now,
		Allowed: func(id, res, act string) bool { return e.idx.Allowed(id, "", res, act) }}
	plane.Authenticate = func(r *http.Request) (change.Actor, error) {
		if admin {
			return directorytest.Admin, nil
		}
		id := r.Header.Get("X-Test-Subject")
		if id == "" {
			return change.Actor{}, fmt.Errorf("%w: no bearer", api.ErrUnauthorized)
		}
		return change.Actor{Name: "user:" + id, SubjectID: id, Source: "192.0.2.7"}, nil
	}
	edge.IdentityRoutes(mux, e.svc, plane)
	return mux
}

// call sends one request to h as the subject as ("" for none) and
// returns the status and the body.
func call(h http.Handler, as, method, path, body string) (int, string) {
	req := httptest.NewRequest(method, "http://accessd"+path, strings.NewReader(body))
	if as != "" {
		req.Header.Set("X-Test-Subject", as)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

package login_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/edge"
)

// env is one test's directory and the sign-in rooms over it
// (directorytest), on a movable clock and with cheap argon2id costs.
type env = directorytest.Env

var admin = directorytest.Admin

func newEnv(t testing.TB, cfg directory.Config) *env {
	t.Helper()
	return directorytest.Open(t, cfg, credential.HasherOptions{})
}

// routes are the Identity routes of one plane over e, as oauth/edge
// registers them. On the data plane the caller is named by a test
// header, standing in for the bearer token; the permission check is the
// real one.
func routes(e *env, admin bool) http.Handler {
	mux := http.NewServeMux()
	plane := edge.Plane{Admin: admin, MFA: e.Enrolment, Review: e.Review, Audit: e.Audit, Now: e.Clock.Now,
		Allowed: func(id, res, act string) bool { return e.Index.Allowed(id, directory.IdentityProduct, res, act) }}
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
	edge.IdentityRoutes(mux, e.Service, plane)
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

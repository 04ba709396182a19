package directory_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/edge"
)

// FuzzIdentityRoutes sends arbitrary bodies to every Identity route that
// reads one, on the admin plane (where every route exists): whatever
// arrives, the answer is 2xx or 4xx, never a 5xx or a panic.
func FuzzIdentityRoutes(f *testing.F) {
	e := newEnv(f, directory.Config{})
	mux := http.NewServeMux()
	edge.IdentityRoutes(mux, e.Service, edge.Plane{Admin: true, MFA: e.Enrolment, Review: e.Review, Apply: e.Apply, Authenticate: func(*http.Request) (change.Actor, error) { return admin, nil }})
	routes := []struct{ method, path string }{
		{"POST", "/v1/users"}, {"PATCH", "/v1/users/admin"}, {"PATCH", "/v1/users/admin/reset-password"},
		{"PATCH", "/v1/users/admin/update-password"}, {"POST", "/v1/groups"}, {"POST", "/v1/groups/admin-group/permissions"},
		{"POST", "/v1/groups/admin-group/members"}, {"POST", "/v1/applications"}, {"POST", "/v1/users/admin/mfa/setup"},
		{"POST", "/v1/users/admin/mfa/verify"}, {"POST", "/v1/users/admin/mfa/enable"}, {"PATCH", "/v1/users/admin/mfa/preferred"},
		{"POST", "/v1/apply"},
	}
	// Lerian's Application Providers: link a provider to an application.
	app, err := e.Service.Applications().CreateApplication(context.Background(), admin, api.CreateApplicationRequest{Name: "fz-app"})
	require.NoError(f, err)
	_, err = e.Service.Providers().CreateProvider(context.Background(), admin, api.CreateProviderRequest{Name: "fz-relay", Category: api.ProviderEmail, Host: "mail.example.internal", From: "a@example.internal"})
	require.NoError(f, err)
	routes = append(routes, struct{ method, path string }{"POST", "/v1/applications/" + app.ID + "/providers"})
	f.Add(uint8(len(routes)-1), `{"providerId":"fz-relay","canSignIn":true,"rule":"x"}`)
	for _, s := range []string{`{"username":"fz","email":"fz@example.test"}`, `{"name":"g"}`, `{"newPassword":"x"}`,
		`{"resource":"a","action":"get"}`, `{"mfaType":"app"}`, `{"groups":[{"name":"x"}]}`, `{`, `[]`, `{"a":1}`, "\xff", `{"name":` + strings.Repeat("[", 1000)} {
		f.Add(uint8(0), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		rt := routes[int(which)%len(routes)]
		r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		mux.ServeHTTP(w, r)
		require.Less(t, w.Code, 500, "%s %s %q: %s", rt.method, rt.path, body, w.Body.String())
	})
}

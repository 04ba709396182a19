package edge

import (
	"net/http"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/delivery"
)

// appProviderRoutes registers Lerian's Application Providers API
// (Identity 2.4.2): link, list, unlink, set the application's default.
// On the data plane they need permission on "applications".
func appProviderRoutes(h func(pattern, resource string, self bool, fn handler), providers *delivery.Providers) {
	app := func(r *http.Request) string { return r.PathValue("id") }
	prov := func(r *http.Request) string { return r.PathValue("providerId") }
	h("POST /v1/applications/{id}/providers", "applications", false, withBody(http.StatusCreated, func(r *http.Request, a change.Actor, req api.LinkProviderRequest) (api.AppProvider, error) {
		return providers.LinkProvider(r.Context(), a, app(r), req)
	}))
	h("GET /v1/applications/{id}/providers", "applications", false, answer(func(r *http.Request, a change.Actor) ([]api.AppProvider, error) {
		return providers.ListAppProviders(a, app(r))
	}))
	h("DELETE /v1/applications/{id}/providers/{providerId}", "applications", false, noContent(func(r *http.Request, a change.Actor) error {
		return providers.UnlinkProvider(r.Context(), a, app(r), prov(r))
	}))
	h("PATCH /v1/applications/{id}/providers/{providerId}/default", "applications", false, answer(func(r *http.Request, a change.Actor) (api.AppProvider, error) {
		return providers.SetAppDefaultProvider(r.Context(), a, app(r), prov(r))
	}))
}

package daemon

import (
	"fmt"
	"github.com/accessd/accessd/oauth/edge"
	"log/slog"
	"net/http"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// adminRoutes is the admin plane: reachable only through the admin socket,
// after the peer-credential check.
func adminRoutes(status func() api.Status, m *metrics, idp *identityPlane, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	edge.IdentityRoutes(mux, idp.svc, edge.Plane{Admin: true, Audit: idp.audit, Review: idp.review, Apply: idp.apply, Authenticate: adminActor, Log: log})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, status())
	})
	token.AdminRoutes(mux, idp.tokens, adminActor)
	mux.Handle("GET /metrics", m.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, fmt.Errorf("%w: no such admin route: %s %s", api.ErrNotFound, r.Method, r.URL.Path))
	})
	return mux
}

package daemon

import (
	"log/slog"
	"net/http"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
)

// adminRoutes is the admin plane: reachable only through the admin socket,
// after the peer-credential check.
func adminRoutes(status func() api.Status, m *metrics, idp *identityPlane, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	identity.Routes(mux, idp.svc, identity.Plane{Admin: true, Authenticate: adminActor, Log: log})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, status())
	})
	mux.Handle("GET /metrics", m.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "AUT-0404", "Not Found", "no such admin route: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

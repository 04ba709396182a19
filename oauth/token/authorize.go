package token

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
)

// Decider is the permission index (oauth/authz) as the decision routes
// use it. The routes live here rather than in oauth/authz, because the
// policy parser imports authz and the identity service imports the
// policy parser: authz cannot import this package.
type Decider interface {
	Allowed(id, product, resource, action string) bool
	Permissions(id, product string) map[string][]string
}

// DecisionRoutes registers POST /v1/authorize and GET /v1/permissions.
func DecisionRoutes(mux *http.ServeMux, s *Server, index Decider) {
	p := decisions{s: s, index: index}
	mux.HandleFunc("POST /v1/authorize", p.authorize)
	mux.HandleFunc("GET /v1/permissions", p.permissions)
	mux.HandleFunc("GET /v1/permissions/{$}", p.permissions) // what Lerian's console calls
}

type decisions struct {
	s     *Server
	index Decider
}

// denied records a refused decision durably before it is answered.
// product is the product the decision was about ("" when none).
func (s *Server) denied(ctx context.Context, p Principal, req api.AuthorizeRequest, product, reason, source string) {
	detail := map[string]string{"resource": req.Resource, "action": req.Action, "reason": reason}
	if product != "" {
		detail["product"] = product
	}
	s.record(ctx, "authz.deny", p.Actor(source).Name, req.Sub, "denied", source, detail)
}

// authorize answers lib-auth: may the token's principal do action on
// resource of a product? decisionProduct says which product, or why the
// body is refused before any permission is read; the body never widens
// the decision. A granted decision is counted, a denied one counted and
// audited with its reason.
func (p decisions) authorize(w http.ResponseWriter, r *http.Request) {
	tok := Bearer(r)
	if tok == "" {
		p.s.metrics.Decision("unauthenticated")
		api.WriteError(w, fmt.Errorf("authz: %w: send the caller's access token in the Authorization header", api.ErrTokenMissing))
		return
	}
	pr, err := p.s.Verify(tok)
	if err != nil {
		p.s.metrics.Decision("invalid-token")
		api.WriteError(w, err)
		return
	}
	var req api.AuthorizeRequest
	if err := api.DecodeJSON(r.Body, &req); err != nil {
		p.s.metrics.Decision("bad-request")
		api.WriteError(w, err)
		return
	}
	if req.Resource == "" || req.Action == "" {
		p.s.metrics.Decision("bad-request")
		api.WriteError(w, fmt.Errorf("authz: %w: resource and action are required", api.ErrMissingRequired))
		return
	}
	product, reason := p.s.decisionProduct(pr, req)
	allowed := reason == "" && p.index.Allowed(pr.SubjectID, product, req.Resource, strings.ToLower(req.Action))
	if allowed {
		p.s.metrics.Decision("granted")
	} else {
		if reason == "" {
			reason = "no-permission"
		}
		p.s.metrics.Decision("denied")
		p.s.denied(r.Context(), pr, req, product, reason, Source(r))
	}
	api.WriteJSON(w, http.StatusOK, api.AuthorizeResponse{Authorized: allowed, Timestamp: p.s.now().UTC().Format(time.RFC3339)})
}

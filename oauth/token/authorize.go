package token

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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
	Effective(id string) []api.Permission
}

// DecisionRoutes registers POST /v1/authorize and GET /v1/permissions.
func DecisionRoutes(mux *http.ServeMux, s *Server, index Decider) {
	p := decisions{s: s, index: index}
	mux.HandleFunc("POST /v1/authorize", p.authorize)
	mux.HandleFunc("GET /v1/permissions", p.permissions)
}

type decisions struct {
	s     *Server
	index Decider
}

// denied records a refused decision durably before it is answered.
func (s *Server) denied(ctx context.Context, p Principal, req api.AuthorizeRequest, reason, source string) {
	detail := map[string]string{"resource": req.Resource, "action": req.Action, "reason": reason}
	if req.Product != "" {
		detail["product"] = req.Product
	}
	s.record(ctx, "authz.deny", p.Actor(source).Name, req.Sub, "denied", source, detail)
}

// roleSubject is the subject older lib-auth sends for application tokens
// (admin/<product>-editor-role). It is accepted and ignored: the decision
// is about the token's own principal, never about the role.
func roleSubject(sub string) bool {
	return strings.HasPrefix(sub, "admin/") && strings.HasSuffix(sub, "-editor-role")
}

// authorize answers lib-auth: may the token's principal do action on
// resource (of product)? The body's sub must name that principal
// (<owner>/<sub> or bare sub); it never widens the decision. A granted
// decision is counted, a denied one counted and audited.
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
	c := pr.Claims
	subOK := req.Sub == "" || req.Sub == c.Subject || req.Sub == p.s.owner+"/"+c.Subject ||
		(!pr.User() && roleSubject(req.Sub))
	allowed := subOK && p.index.Allowed(pr.SubjectID, req.Product, req.Resource, strings.ToLower(req.Action))
	if allowed {
		p.s.metrics.Decision("granted")
	} else {
		reason := "no-permission"
		if !subOK {
			reason = "sub-mismatch"
		}
		p.s.metrics.Decision("denied")
		p.s.denied(r.Context(), pr, req, reason, Source(r))
	}
	api.WriteJSON(w, http.StatusOK, api.AuthorizeResponse{Authorized: allowed, Timestamp: p.s.now().UTC().Format(time.RFC3339)})
}

// permissions lists what the bearer may do, resource -> actions; with
// ?product=P, the permissions of product P and of no product, keyed by
// bare resource (what Lerian's console expects); without, all of them,
// a product's resources keyed "product/resource".
func (p decisions) permissions(w http.ResponseWriter, r *http.Request) {
	pr, err := p.s.presented(r, Bearer(r))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	product := r.URL.Query().Get("product")
	out := map[string][]string{}
	for _, perm := range p.index.Effective(pr.SubjectID) {
		key := perm.Resource
		switch {
		case product != "" && perm.Product != "" && perm.Product != product:
			continue
		case product == "" && perm.Product != "":
			key = perm.Product + "/" + perm.Resource
		}
		if !slices.Contains(out[key], perm.Action) {
			out[key] = append(out[key], perm.Action)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	api.WriteJSON(w, http.StatusOK, out)
}

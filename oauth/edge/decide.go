package edge

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/store"
)

// decisions are POST /v1/authorize and GET /v1/permissions: the token
// verifier composed with the permission index.
type decisions struct {
	tokens   *token.Server
	index    Index
	refusals Refusals
	now      func() time.Time
}

// denied audits a refused decision: durably before it is answered while
// it is among the first few of its principal, resource, action and
// reason this minute, else in the minute's summary (Refusals). product
// is the product the decision was about ("" when none).
func (d decisions) denied(ctx context.Context, p token.Principal, req api.AuthorizeRequest, product, reason, source string) {
	detail := map[string]string{"resource": req.Resource, "action": req.Action, "reason": reason}
	if product != "" {
		detail["product"] = product
	}
	actor := p.Actor(source).Name
	d.refusals.Refuse(ctx, actor, map[string]string{"resource": req.Resource, "action": req.Action, "reason": reason},
		store.AuditEntry{Time: d.now().UTC(), Type: "authz.deny", Actor: actor, Target: req.Sub, Result: "denied", Source: source, Detail: detail})
}

// authorize answers lib-auth: may the token's principal do action on
// resource of a product? DecisionProduct says which product, or why the
// body is refused before any permission is read; the body never widens
// the decision. A granted decision is counted, a denied one counted and
// audited with its reason.
func (d decisions) authorize(w http.ResponseWriter, r *http.Request) {
	m := d.tokens.Metrics()
	tok := bearerOf(r)
	if tok == "" {
		m.Decision("unauthenticated")
		api.WriteError(w, fmt.Errorf("authz: %w: send the caller's access token in the Authorization header", api.ErrTokenMissing))
		return
	}
	pr, err := d.tokens.Verify(tok)
	if err != nil {
		m.Decision("invalid-token")
		api.WriteError(w, err)
		return
	}
	var req api.AuthorizeRequest
	if err := api.DecodeJSON(r.Body, &req); err != nil {
		m.Decision("bad-request")
		api.WriteError(w, err)
		return
	}
	if req.Resource == "" || req.Action == "" {
		m.Decision("bad-request")
		api.WriteError(w, fmt.Errorf("authz: %w: resource and action are required", api.ErrMissingRequired))
		return
	}
	product, reason := d.tokens.DecisionProduct(pr, req)
	allowed := reason == "" && d.index.Allowed(pr.SubjectID, product, req.Resource, strings.ToLower(req.Action))
	if allowed {
		m.Decision("granted")
	} else {
		if reason == "" {
			reason = "no-permission"
		}
		m.Decision("denied")
		d.denied(r.Context(), pr, req, product, reason, sourceOf(r))
	}
	api.WriteJSON(w, http.StatusOK, api.AuthorizeResponse{Authorized: allowed, Timestamp: d.now().UTC().Format(time.RFC3339)})
}

// permissions answers GET /v1/permissions (and /v1/permissions/, what
// Lerian's console calls): what the bearer may do, resource -> actions,
// with bare resource names and "*" kept as "*" (the console honours
// both). ?product=P lists the decisions /v1/authorize answers for P.
// Without it, the answer is the default product's, with each Identity
// resource set to what the Identity routes (which decide in product
// identity) allow, so a product-wide grant never shows the console an
// Identity page it would be refused, and an identity editor sees its
// Users page. Both come from the index's listing, which shares its
// product rule with decisions.
func (d decisions) permissions(w http.ResponseWriter, r *http.Request) {
	pr, err := d.tokens.Presented(bearerOf(r), peerCert(r))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	q := r.URL.Query()
	if q.Has("product") {
		product := q.Get("product")
		if !authz.ValidProduct(product) {
			api.WriteError(w, fmt.Errorf("permissions: %w: product %q must be a product name such as \"midaz\" or \"plugin-crm\"; leave it out for the default product and the identity resources", api.ErrInvalidQuery, product))
			return
		}
		api.WriteJSON(w, http.StatusOK, d.index.Permissions(pr.SubjectID, product))
		return
	}
	api.WriteJSON(w, http.StatusOK, overview(d.index, pr.SubjectID, d.tokens.DefaultProduct()))
}

// overview is the product-less answer of GET /v1/permissions: the
// default product's listing, and each Identity resource as the Identity
// routes decide it. As in every listing, a resource's own entry is
// complete and "*" speaks only for resources without one, so an
// Identity resource is listed when the subject may do something on it,
// or, with an empty list, when the product's "*" would otherwise claim
// it.
func overview(index Index, id, defaultProduct string) map[string][]string {
	out := index.Permissions(id, defaultProduct)
	ident := index.Permissions(id, directory.IdentityProduct)
	_, wild := out["*"]
	for _, res := range directory.Resources {
		acts := slices.Concat(ident[res], ident["*"])
		switch {
		case slices.Contains(acts, "*"):
			out[res] = []string{"*"}
		case len(acts) > 0:
			slices.Sort(acts)
			out[res] = slices.Compact(acts)
		case wild:
			out[res] = []string{}
		default:
			delete(out, res)
		}
	}
	return out
}

package token

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/identity"
)

// Reasons a decision is refused before any permission is read; each is
// the "reason" of its audit entry.
const (
	reasonSubMismatch     = "sub-mismatch"     // the body's sub names another principal
	reasonRoleNoProduct   = "role-no-product"  // admin/<P>-editor-role with no valid <P>
	reasonProductMismatch = "product-mismatch" // the role's <P> and the body's product differ
)

// decisionProduct says which product a /v1/authorize body asks about,
// or why it is refused ("" when it is not).
//
//   - A token whose type is not normal-user may send lib-auth v2.9's role
//     subject "admin/<P>-editor-role": the product is <P>, and a body
//     product that differs from it is refused, as is a role with no
//     valid <P>. The role grants nothing; the decision is about the
//     token's own principal in <P>.
//   - A body naming the token's own principal (<owner>/<sub>, bare sub,
//     or no sub) asks about the body's product, else the default product
//     (empty when [authz] default_product is off).
//   - Anything else names another principal: refused. A user token may
//     not use the role subject.
func (s *Server) decisionProduct(pr Principal, req api.AuthorizeRequest) (product, reason string) {
	if !pr.User() {
		if p, isRole := authz.RoleProduct(req.Sub); isRole {
			switch {
			case p == "":
				return "", reasonRoleNoProduct
			case req.Product != "" && req.Product != p:
				return p, reasonProductMismatch
			}
			return p, ""
		}
	}
	c := pr.Claims
	if req.Sub != "" && req.Sub != c.Subject && req.Sub != s.owner+"/"+c.Subject {
		return req.Product, reasonSubMismatch
	}
	if req.Product == "" {
		return s.defaultProduct, ""
	}
	return req.Product, ""
}

// permissions answers GET /v1/permissions (and /v1/permissions/, what
// Lerian's console calls): what the bearer may do, resource -> actions,
// with bare resource names and "*" kept as "*" (the console honours
// both). ?product=P lists the decisions /v1/authorize answers for P.
// Without it, the answer is the default product's, with each Identity
// resource set to what the Identity routes (which decide without a
// product) allow, so a product-wide grant never shows the console an
// Identity page it would be refused, and an identity editor sees its
// Users page. Both come from the index's listing, which shares its
// product rule with decisions.
func (p decisions) permissions(w http.ResponseWriter, r *http.Request) {
	pr, err := p.s.presented(r, Bearer(r))
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
		api.WriteJSON(w, http.StatusOK, p.index.Permissions(pr.SubjectID, product))
		return
	}
	api.WriteJSON(w, http.StatusOK, overview(p.index, pr.SubjectID, p.s.defaultProduct))
}

// overview is the product-less answer of GET /v1/permissions: the
// default product's listing, and each Identity resource as the Identity
// routes decide it. As in every listing, a resource's own entry is
// complete and "*" speaks only for resources without one, so an
// Identity resource is listed when the subject may do something on it,
// or, with an empty list, when the product's "*" would otherwise claim
// it.
func overview(index Decider, id, defaultProduct string) map[string][]string {
	out := index.Permissions(id, defaultProduct)
	plain := out
	if defaultProduct != "" {
		plain = index.Permissions(id, "")
	}
	_, wild := out["*"]
	for _, res := range identity.Resources {
		acts := slices.Concat(plain[res], plain["*"])
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

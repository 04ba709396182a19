package token

import (
	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
)

// DefaultProduct is the product of a decision whose body names none
// ([authz] default_product); "" when off.
func (s *Server) DefaultProduct() string { return s.defaultProduct }

// Reasons a decision is refused before any permission is read; each is
// the "reason" of its audit entry.
const (
	reasonSubMismatch     = "sub-mismatch"     // the body's sub names another principal
	reasonRoleNoProduct   = "role-no-product"  // admin/<P>-editor-role with no valid <P>
	reasonProductMismatch = "product-mismatch" // the role's <P> and the body's product differ
)

// DecisionProduct says which product a /v1/authorize body asks about,
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
func (s *Server) DecisionProduct(pr Principal, req api.AuthorizeRequest) (product, reason string) {
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

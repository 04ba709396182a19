package token

import (
	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
)

// DefaultProduct is the product of a decision whose body names none
// ([authz] default_product); "" when off.
func (s *Server) DefaultProduct() string { return s.defaultProduct }

// DecisionProduct says which product a /v1/authorize body asks about for
// the verified principal pr, or why it is refused before any permission
// is read ("" when it is not): authz's rule, applied to the token's
// subject and owner and the default product.
func (s *Server) DecisionProduct(pr Principal, req api.AuthorizeRequest) (product, reason string) {
	return authz.DecisionProduct(authz.Caller{User: pr.User(), Subject: pr.Claims.Subject, Owner: s.owner},
		req.Sub, req.Product, s.defaultProduct)
}

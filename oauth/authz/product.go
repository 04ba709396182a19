package authz

import "strings"

// Role subjects: lib-auth v2.9 asks about a token whose type is not
// "normal-user" with the subject "admin/<product>-editor-role" and no
// product, so the product of the check lives in the role's name.
const (
	rolePrefix = "admin/"
	roleSuffix = "-editor-role"
)

// RoleProduct parses lib-auth's role subject. isRole reports whether sub
// has the role's shape (starts "admin/" and ends "-editor-role"); product
// is everything between the two, and is "" when that is not a valid
// product name (ValidProduct), so "admin/-editor-role" and
// "admin/a/b-editor-role" are roles that name no product and must be
// refused. The role itself grants nothing: a decision about a role
// subject is about the token's own principal in product.
func RoleProduct(sub string) (product string, isRole bool) {
	if len(sub) < len(rolePrefix)+len(roleSuffix) || !strings.HasPrefix(sub, rolePrefix) || !strings.HasSuffix(sub, roleSuffix) {
		return "", false
	}
	p := sub[len(rolePrefix) : len(sub)-len(roleSuffix)]
	if !ValidProduct(p) {
		return "", true
	}
	return p, true
}

// ValidProduct reports whether p can name a product: 1-128 letters,
// digits, '.', '_' or '-', starting with a letter or digit ("midaz",
// "plugin-crm"). It is the rule the identity service applies to a
// permission's product, so every product a grant can carry is valid here.
func ValidProduct(p string) bool {
	if p == "" || len(p) > 128 || !isAlnum(p[0]) {
		return false
	}
	for i := 1; i < len(p); i++ {
		if c := p[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Reasons a decision is refused before any permission is read; each is
// the "reason" of its audit entry.
const (
	ReasonSubMismatch     = "sub-mismatch"     // the body's sub names another principal
	ReasonRoleNoProduct   = "role-no-product"  // admin/<P>-editor-role with no valid <P>
	ReasonProductMismatch = "product-mismatch" // the role's <P> and the body's product differ
)

// Caller is the verified principal a decision is about, as its token
// names it.
type Caller struct {
	User    bool   // a person's token; else an application's
	Subject string // the token's sub
	Owner   string // the organisation part of subjects (lib-auth's owner claim)
}

// DecisionProduct says which product a /v1/authorize body (sub, product)
// asks about for caller, or why it is refused ("" when it is not).
//
//   - A token whose type is not normal-user may send lib-auth v2.9's role
//     subject "admin/<P>-editor-role": the product is <P>, and a body
//     product that differs from it is refused, as is a role with no
//     valid <P>. The role grants nothing; the decision is about the
//     token's own principal in <P>.
//   - A body naming the token's own principal (<owner>/<sub>, bare sub,
//     or no sub) asks about the body's product, else defaultProduct
//     (empty when [authz] default_product is off).
//   - Anything else names another principal: refused. A user token may
//     not use the role subject.
func DecisionProduct(caller Caller, sub, product, defaultProduct string) (string, string) {
	if !caller.User {
		if p, isRole := RoleProduct(sub); isRole {
			switch {
			case p == "":
				return "", ReasonRoleNoProduct
			case product != "" && product != p:
				return p, ReasonProductMismatch
			}
			return p, ""
		}
	}
	if sub != "" && sub != caller.Subject && sub != caller.Owner+"/"+caller.Subject {
		return product, ReasonSubMismatch
	}
	if product == "" {
		return defaultProduct, ""
	}
	return product, ""
}

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

package authz

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoleProduct(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sub     string
		product string
		isRole  bool
	}{
		{"admin/midaz-editor-role", "midaz", true},
		{"admin/plugin-crm-editor-role", "plugin-crm", true},
		{"admin/plugin-fees-editor-role", "plugin-fees", true},
		{"admin/x-editor-role-editor-role", "x-editor-role", true},
		{"admin/-editor-role", "", true},
		{"admin/a/b-editor-role", "", true},
		{"admin/mid az-editor-role", "", true},
		{"admin/.midaz-editor-role", "", true},
		{"admin/" + strings.Repeat("p", 129) + "-editor-role", "", true},
		{"admin/midaz-viewer-role", "", false},
		{"admin/midaz-editor-role ", "", false},
		{"Admin/midaz-editor-role", "", false},
		{"lerian/midaz-editor-role", "", false},
		{"admin-editor-role", "", false},
		{"admin/", "", false},
		{"", "", false},
		{"lerian/0d7a8f5e-3c1b-4a61-9d4e-7f0c2b6a1e93", "", false},
	} {
		t.Run(tc.sub, func(t *testing.T) {
			t.Parallel()
			p, isRole := RoleProduct(tc.sub)
			require.Equal(t, tc.product, p, "RoleProduct(%q)", tc.sub)
			require.Equal(t, tc.isRole, isRole, "RoleProduct(%q) isRole", tc.sub)
		})
	}
}

// FuzzRoleProduct: whatever the body's sub, a product comes back only
// from a role subject, it is exactly the text between "admin/" and
// "-editor-role", and it is a valid product name.
func FuzzRoleProduct(f *testing.F) {
	for _, s := range []string{"admin/midaz-editor-role", "admin/plugin-crm-editor-role", "admin/-editor-role",
		"admin/a/b-editor-role", "lerian/app", "admin/", "-editor-role", "admin/\x00-editor-role", "admin/é-editor-role"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sub string) {
		p, isRole := RoleProduct(sub)
		shaped := strings.HasPrefix(sub, rolePrefix) && strings.HasSuffix(sub, roleSuffix) && len(sub) >= len(rolePrefix)+len(roleSuffix)
		require.Equal(t, shaped, isRole, "RoleProduct(%q) isRole", sub)
		if p == "" {
			return
		}
		require.True(t, isRole, "RoleProduct(%q) = %q, not a role", sub, p)
		require.Equal(t, sub, rolePrefix+p+roleSuffix, "RoleProduct(%q) = %q", sub, p)
		require.True(t, ValidProduct(p), "RoleProduct(%q) = %q, not a product name", sub, p)
		require.False(t, strings.ContainsAny(p, "/ *"), "RoleProduct(%q) = %q", sub, p)
	})
}

func TestDecisionProduct(t *testing.T) {
	t.Parallel()
	app := Caller{Subject: "ledger", Owner: "lerian"}
	user := Caller{User: true, Subject: "0d7a8f5e-3c1b-4a61-9d4e-7f0c2b6a1e93", Owner: "lerian"}
	for _, tc := range []struct {
		name           string
		caller         Caller
		sub, product   string
		defaultProduct string
		wantP, wantWhy string
	}{
		{"own principal, owner-qualified", app, "lerian/ledger", "plugin-crm", "midaz", "plugin-crm", ""},
		{"own principal, bare", app, "ledger", "", "midaz", "midaz", ""},
		{"no sub, no product, default off", app, "", "", "", "", ""},
		{"another principal", app, "lerian/other", "midaz", "midaz", "midaz", ReasonSubMismatch},
		{"another owner", app, "acme/ledger", "", "midaz", "", ReasonSubMismatch},
		{"role subject names the product", app, "admin/plugin-crm-editor-role", "", "midaz", "plugin-crm", ""},
		{"role subject and the same product", app, "admin/plugin-crm-editor-role", "plugin-crm", "midaz", "plugin-crm", ""},
		{"role subject and another product", app, "admin/plugin-crm-editor-role", "midaz", "midaz", "plugin-crm", ReasonProductMismatch},
		{"role subject naming no product", app, "admin/a/b-editor-role", "", "midaz", "", ReasonRoleNoProduct},
		{"a user may not use the role subject", user, "admin/midaz-editor-role", "", "midaz", "", ReasonSubMismatch},
		{"a user's own principal", user, "lerian/" + user.Subject, "", "midaz", "midaz", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, why := DecisionProduct(tc.caller, tc.sub, tc.product, tc.defaultProduct)
			require.Equal(t, tc.wantP, p, "product")
			require.Equal(t, tc.wantWhy, why, "reason")
		})
	}
}

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

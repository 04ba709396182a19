package authz

import (
	"strings"
	"testing"
)

func TestRoleProduct(t *testing.T) {
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
			p, isRole := RoleProduct(tc.sub)
			if p != tc.product || isRole != tc.isRole {
				t.Fatalf("RoleProduct(%q) = %q, %v; want %q, %v", tc.sub, p, isRole, tc.product, tc.isRole)
			}
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
		if isRole != shaped {
			t.Fatalf("RoleProduct(%q) isRole = %v, want %v", sub, isRole, shaped)
		}
		if p == "" {
			return
		}
		if !isRole || rolePrefix+p+roleSuffix != sub || !ValidProduct(p) || strings.ContainsAny(p, "/ *") {
			t.Fatalf("RoleProduct(%q) = %q, %v", sub, p, isRole)
		}
	})
}

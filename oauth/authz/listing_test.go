package authz

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// listed reads a Permissions answer as its doc says: a resource's own
// entry, else "*"'s; an action listed by itself or by "*".
func listed(m map[string][]string, resource, action string) bool {
	acts, ok := m[resource]
	if !ok {
		acts = m["*"]
	}
	return slices.Contains(acts, action) || slices.Contains(acts, "*")
}

// Permissions and Allowed agree on every (product, resource, action) for
// random groups of random grants, including "*" resources and actions,
// prefixed resources and actions that are not HTTP verbs.
func TestPermissionsAgreeWithAllowed(t *testing.T) {
	t.Parallel()
	products := []string{"", "midaz", "plugin-crm"}
	resources := []string{"*", "accounts", "ledgers", "users", "midaz/accounts", "plugin-crm/contacts", "contacts"}
	actions := []string{"*", "get", "head", "post", "delete", "purge"}
	rng := rand.New(rand.NewPCG(16, 1))
	for round := range 300 {
		x := New()
		var groups []string
		for g := range 1 + rng.IntN(3) {
			var perms []Permission
			for range rng.IntN(5) {
				perms = append(perms, Permission{Product: products[rng.IntN(len(products))],
					Resource: resources[rng.IntN(len(resources))], Action: actions[rng.IntN(len(actions))]})
			}
			name := string(rune('a' + g))
			x.SetGroup(name, perms)
			groups = append(groups, name)
		}
		x.SetSubject("s", groups)
		for _, product := range products {
			m := x.Permissions("s", product)
			for _, r := range []string{"*", "accounts", "ledgers", "users", "contacts", "other"} {
				for _, a := range actions {
					if got, want := listed(m, r, a), x.Allowed("s", product, r, a); got != want {
						require.Failf(t, "the listing and Allowed differ", "round %d, groups %v: product %q %s %s: listed %v, Allowed %v (listing %v, effective %v)",
							round, groups, product, a, r, got, want, m, x.Effective("s"))
					}
				}
			}
		}
	}
	m := New().Permissions("nobody", "midaz")
	require.NotNil(t, m, "unknown subject: an empty map, not nil")
	require.Empty(t, m, "unknown subject")
}

package authz

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	alice = "0b6f1c9e-3f0a-4c1e-9d7b-2a5e8c4d1f00"
	bob   = "9f0e2d4c-6b8a-4e1f-a2c3-d4e5f6a7b8c9"
)

func perm(product, resource, action string) Permission {
	return Permission{Product: product, Resource: resource, Action: action}
}

// TestMatching is the matching rules of LERIAN-API "Tokens and
// permissions" and DESIGN §4, one stored permission against one request.
func TestMatching(t *testing.T) {
	t.Parallel()
	type req struct{ product, resource, action string }
	tests := []struct {
		name   string
		stored Permission
		req    req
		want   bool
	}{
		{"exact bare", perm("", "accounts", "get"), req{"", "accounts", "get"}, true},
		{"other action", perm("", "accounts", "get"), req{"", "accounts", "post"}, false},
		{"other resource", perm("", "accounts", "get"), req{"", "ledgers", "get"}, false},
		{"resource is exact, not a prefix", perm("", "account", "get"), req{"", "accounts", "get"}, false},
		{"resource case matters", perm("", "Accounts", "get"), req{"", "accounts", "get"}, false},
		{"action case ignored (request)", perm("", "accounts", "get"), req{"", "accounts", "GET"}, true},
		{"action case ignored (stored)", perm("", "accounts", "Get"), req{"", "accounts", "get"}, true},
		{"unknown verb case ignored", perm("", "reports", "Export"), req{"", "reports", "EXPORT"}, true},
		{"unknown verb exact", perm("", "reports", "export"), req{"", "reports", "import"}, false},
		{"action wildcard", perm("", "accounts", "*"), req{"", "accounts", "delete"}, true},
		{"action wildcard, custom action", perm("", "accounts", "*"), req{"", "accounts", "frobnicate"}, true},
		{"action wildcard, other resource", perm("", "accounts", "*"), req{"", "ledgers", "get"}, false},
		{"resource wildcard", perm("", "*", "get"), req{"", "ledgers", "get"}, true},
		{"resource wildcard, other action", perm("", "*", "get"), req{"", "ledgers", "post"}, false},
		{"both wildcards", perm("", "*", "*"), req{"", "anything", "patch"}, true},
		{"requested * is literal (action)", perm("", "accounts", "get"), req{"", "accounts", "*"}, false},
		{"requested * is literal (resource)", perm("", "accounts", "get"), req{"", "*", "get"}, false},
		{"stored * matches requested *", perm("", "*", "*"), req{"", "*", "*"}, true},
		{"partial wildcard is literal", perm("", "acc*", "get"), req{"", "accounts", "get"}, false},
		{"empty request resource", perm("", "*", "*"), req{"", "", "get"}, false},
		{"empty request action", perm("", "*", "*"), req{"", "accounts", ""}, false},
		{"empty stored action grants nothing", perm("", "accounts", ""), req{"", "accounts", "get"}, false},
		{"empty stored resource grants nothing", perm("", "", "get"), req{"", "accounts", "get"}, false},

		// Products.
		{"empty product matches any product", perm("", "accounts", "get"), req{"midaz", "accounts", "get"}, true},
		{"product matches product", perm("midaz", "accounts", "get"), req{"midaz", "accounts", "get"}, true},
		{"product does not match other product", perm("midaz", "accounts", "get"), req{"plugin-fees", "accounts", "get"}, false},
		{"product does not match no product", perm("midaz", "accounts", "get"), req{"", "accounts", "get"}, false},
		{"product case matters", perm("midaz", "accounts", "get"), req{"Midaz", "accounts", "get"}, false},
		{"product with resource wildcard", perm("midaz", "*", "*"), req{"midaz", "ledgers", "put"}, true},
		{"product wildcard stays in its product", perm("midaz", "*", "*"), req{"plugin-crm", "ledgers", "put"}, false},
		{"product wildcard not for no product", perm("midaz", "*", "*"), req{"", "ledgers", "put"}, false},
		{"product * is not a wildcard", perm("*", "accounts", "get"), req{"midaz", "accounts", "get"}, false},

		// Prefix form: a stored "P/resource".
		{"prefix matches its product", perm("", "midaz/accounts", "get"), req{"midaz", "accounts", "get"}, true},
		{"prefix not other product", perm("", "midaz/accounts", "get"), req{"plugin-fees", "accounts", "get"}, false},
		{"prefix not without product", perm("", "midaz/accounts", "get"), req{"", "accounts", "get"}, false},
		{"prefix request is not split", perm("", "midaz/accounts", "get"), req{"", "midaz/accounts", "get"}, false},
		{"prefix with product set too", perm("midaz", "midaz/accounts", "get"), req{"midaz", "accounts", "get"}, true},
		{"prefix of another product is literal", perm("midaz", "crm/accounts", "get"), req{"crm", "accounts", "get"}, false},
		{"literal slash resource under product", perm("midaz", "crm/accounts", "get"), req{"midaz", "crm/accounts", "get"}, true},
		{"prefix wildcard", perm("", "midaz/*", "get"), req{"midaz", "ledgers", "get"}, true},
		{"prefix wildcard other product", perm("", "midaz/*", "get"), req{"crm", "ledgers", "get"}, false},
		{"nested prefix splits once", perm("", "midaz/a/b", "get"), req{"midaz", "a/b", "get"}, true},
		{"leading slash is literal", perm("", "/accounts", "get"), req{"", "/accounts", "get"}, true},
		{"leading slash no product", perm("", "/accounts", "get"), req{"midaz", "accounts", "get"}, false},
		{"trailing slash is literal", perm("", "midaz/", "get"), req{"midaz", "", "get"}, false},
		{"bare resource with product request", perm("", "accounts", "post"), req{"midaz", "accounts", "post"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := New()
			x.SetGroup("g", []Permission{tt.stored})
			x.SetSubject(alice, []string{"g"})
			got := x.Allowed(alice, tt.req.product, tt.req.resource, tt.req.action)
			assert.Equal(t, tt.want, got, "index")
			assert.Equal(t, tt.want, refAllowed([]Permission{tt.stored}, tt.req.product, tt.req.resource, tt.req.action), "reference")
		})
	}
}

// refAllowed is the slow reference: the rules as written, one permission
// at a time, sharing no code with the index.
func refAllowed(perms []Permission, product, resource, action string) bool {
	if resource == "" || action == "" {
		return false
	}
	for _, p := range perms {
		if p.Resource == "" || p.Action == "" {
			continue
		}
		if p.Action != "*" && strings.ToLower(p.Action) != strings.ToLower(action) {
			continue
		}
		pp, pr := p.Product, p.Resource
		if i := strings.IndexByte(pr, '/'); i > 0 && i < len(pr)-1 && (pp == "" || pp == pr[:i]) {
			pp, pr = pr[:i], pr[i+1:]
		}
		if pp != "" && pp != product {
			continue
		}
		if pr == "*" || pr == resource {
			return true
		}
	}
	return false
}

func TestUnknownSubjectDenied(t *testing.T) {
	t.Parallel()
	x := New()
	assert.False(t, x.Allowed(alice, "", "accounts", "get"), "empty index")
	x.SetGroup("admins", []Permission{perm("", "*", "*")})
	x.SetSubject(alice, []string{"admins"})
	assert.True(t, x.Allowed(alice, "", "accounts", "get"))
	for _, id := range []string{bob, "", "admins", strings.ToUpper(alice), alice + " ", "0b6f1c9e3f0a4c1e9d7b2a5e8c4d1f00"} {
		assert.False(t, x.Allowed(id, "", "accounts", "get"), "%q", id)
		assert.Nil(t, x.Effective(id), "%q", id)
		assert.Nil(t, x.Groups(id), "%q", id)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetGroup("ops", []Permission{perm("midaz", "accounts", "get"), perm("midaz", "accounts", "post")})
	x.SetGroup("viewers", []Permission{perm("midaz", "ledgers", "get")})
	x.SetSubject(alice, []string{"ops", "viewers"})
	x.SetSubject(bob, []string{"ops"})
	require.True(t, x.Allowed(alice, "midaz", "accounts", "post"))

	// A permission taken from the group.
	x.SetGroup("ops", []Permission{perm("midaz", "accounts", "get")})
	assert.False(t, x.Allowed(alice, "midaz", "accounts", "post"), "revoked permission")
	assert.False(t, x.Allowed(bob, "midaz", "accounts", "post"), "revoked permission, other member")
	assert.True(t, x.Allowed(alice, "midaz", "accounts", "get"), "kept permission")

	// A member taken from the group.
	x.SetSubject(alice, []string{"viewers"})
	assert.False(t, x.Allowed(alice, "midaz", "accounts", "get"), "removed member")
	assert.True(t, x.Allowed(bob, "midaz", "accounts", "get"), "other member keeps it")
	assert.Equal(t, []string{"viewers"}, x.Groups(alice))

	// The group deleted, then created again under the same name: its old
	// members do not come back.
	x.DeleteGroup("ops")
	assert.False(t, x.Allowed(bob, "midaz", "accounts", "get"), "deleted group")
	assert.Empty(t, x.Groups(bob))
	x.SetGroup("ops", []Permission{perm("", "*", "*")})
	assert.False(t, x.Allowed(bob, "midaz", "accounts", "get"), "recreated group grants old members")
	assert.Empty(t, x.Groups(bob))

	// The subject deleted.
	x.DeleteSubject(alice)
	assert.False(t, x.Allowed(alice, "midaz", "ledgers", "get"), "deleted subject")
	x.SetSubject(bob, nil)
	assert.Empty(t, x.Groups(bob), "no groups")
	assert.True(t, x.Has(bob), "a subject without groups still exists")
	assert.False(t, x.Allowed(bob, "midaz", "accounts", "get"), "and is allowed nothing")
	x.DeleteSubject(bob)
	assert.False(t, x.Has(bob), "deleted")
}

func TestPendingGroup(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetSubject(alice, []string{"later", "later"})
	assert.Equal(t, []string{"later"}, x.Groups(alice))
	assert.False(t, x.Allowed(alice, "", "accounts", "get"), "undefined group grants nothing")
	assert.Empty(t, x.Effective(alice))
	x.SetGroup("later", []Permission{perm("", "accounts", "GET")})
	assert.True(t, x.Allowed(alice, "", "accounts", "get"), "group defined after the member was added")
	assert.Equal(t, []Permission{perm("", "accounts", "get")}, x.Effective(alice))

	// A pending name nobody holds any more is forgotten.
	x.SetSubject(bob, []string{"ghost"})
	x.DeleteSubject(bob)
	_, ok := x.groupByName["ghost"]
	assert.False(t, ok, "pending group without members is freed")
	_, groups := x.Len()
	assert.Equal(t, 1, groups)
}

func TestEffective(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetGroup("a", []Permission{perm("", "midaz/accounts", "get"), perm("midaz", "accounts", "GET"), perm("", "users", "patch")})
	x.SetGroup("b", []Permission{perm("midaz", "accounts", "get"), perm("", "*", "get"), perm("", "", "get")})
	x.SetSubject(alice, []string{"b", "a"})
	assert.Equal(t, []Permission{
		perm("", "*", "get"),
		perm("", "users", "patch"),
		perm("midaz", "accounts", "get"),
	}, x.Effective(alice))
	assert.Equal(t, []string{"a", "b"}, x.Groups(alice))
}

func TestNonUUIDSubjects(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetGroup("g", []Permission{perm("", "accounts", "get")})
	upper := strings.ToUpper(alice)
	x.SetSubject("lerian/fees-service", []string{"g"})
	x.SetSubject(upper, []string{"g"})
	assert.True(t, x.Allowed("lerian/fees-service", "", "accounts", "get"))
	assert.True(t, x.Allowed(upper, "", "accounts", "get"))
	assert.False(t, x.Allowed(alice, "", "accounts", "get"), "another spelling of a UUID is another subject")
	subjects, _ := x.Len()
	assert.Equal(t, 2, subjects)
}

// TestSetsShared checks that subjects with the same groups share one set
// and that sets and names are freed and reused, so churn does not grow
// the index.
func TestSetsShared(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetGroup("a", nil)
	x.SetGroup("b", nil)
	for i := range 1000 {
		x.SetSubject(uuidN(i), []string{"b", "a"})
	}
	assert.Len(t, x.setByKey, 1)
	for i := range 1000 {
		x.SetSubject(uuidN(i), []string{fmt.Sprint("tmp", i%10)})
	}
	for i := range 1000 {
		x.DeleteSubject(uuidN(i))
	}
	assert.Empty(t, x.setByKey)
	assert.Len(t, x.groupByName, 2, "pending names freed")
	assert.LessOrEqual(t, len(x.sets), 12)
	assert.LessOrEqual(t, len(x.groups), 12)
}

func TestDeleteGroupMergesSets(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetGroup("a", []Permission{perm("", "x", "get")})
	x.SetGroup("b", []Permission{perm("", "y", "get")})
	x.SetSubject(alice, []string{"a", "b"})
	x.SetSubject(bob, []string{"a"})
	x.DeleteGroup("b")
	assert.Equal(t, []string{"a"}, x.Groups(alice))
	assert.False(t, x.Allowed(alice, "", "y", "get"))
	// The two identical sets stay consistent as subjects come and go.
	x.DeleteSubject(bob)
	assert.True(t, x.Allowed(alice, "", "x", "get"))
	x.SetSubject(bob, []string{"a"})
	x.DeleteSubject(alice)
	assert.True(t, x.Allowed(bob, "", "x", "get"))
	x.DeleteSubject(bob)
	assert.Empty(t, x.setByKey)
	x.DeleteGroup("nonexistent")
}

// TestConcurrent runs decisions against updates; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	x := New()
	x.SetGroup("g", []Permission{perm("", "accounts", "get")})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := uuidN(i % 50)
				switch (i + w) % 4 {
				case 0:
					x.SetSubject(id, []string{"g", fmt.Sprint("h", i%3)})
				case 1:
					x.Allowed(id, "midaz", "accounts", "get")
					x.Effective(id)
				case 2:
					x.SetGroup(fmt.Sprint("h", i%3), []Permission{perm("midaz", "*", "get")})
				case 3:
					x.DeleteGroup(fmt.Sprint("h", i%3))
					x.Groups(id)
				}
			}
		})
	}
	wg.Wait()
}

func TestAllowedDoesNotAllocate(t *testing.T) {
	// Not parallel: AllocsPerRun counts every goroutine's allocations.
	x := New()
	x.SetGroup("g", []Permission{perm("midaz", "accounts", "get"), perm("", "*", "head"), perm("", "r", "custom")})
	x.SetSubject(alice, []string{"g", "h"})
	x.SetSubject("app/other", []string{"g"})
	allocs := testing.AllocsPerRun(100, func() {
		x.Allowed(alice, "midaz", "accounts", "GET")
		x.Allowed(alice, "midaz", "ledgers", "post")
		x.Allowed(alice, "", "r", "CUSTOM")
		x.Allowed("app/other", "", "r", "head")
		x.Allowed(bob, "", "r", "head")
	})
	assert.Zero(t, allocs)
}

func uuidN(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
}

// FuzzAllowed checks that Allowed never panics and agrees with the
// reference for arbitrary permissions and requests, on subjects with
// several groups.
func FuzzAllowed(f *testing.F) {
	f.Add("", "accounts", "get", "", "accounts", "GET", "midaz", "*", "post")
	f.Add("", "midaz/accounts", "get", "midaz", "accounts", "get", "", "x", "*")
	f.Add("midaz", "midaz/*", "*", "", "midaz/accounts", "get", "*", "*", "*")
	f.Add("", "/", "Ge", "", "/", "gE", "", "a/b/c", "DELETE")
	f.Fuzz(func(t *testing.T, p1, r1, a1, product, resource, action, p2, r2, a2 string) {
		g1 := []Permission{perm(p1, r1, a1)}
		g2 := []Permission{perm(p2, r2, a2), perm(p1, r2, a1)}
		x := New()
		x.SetGroup("g1", g1)
		x.SetGroup("g2", g2)
		x.SetSubject(alice, []string{"g1", "g2"})
		x.SetSubject(bob, []string{"g2"})
		want := refAllowed(append(g1, g2...), product, resource, action)
		require.Equal(t, want, x.Allowed(alice, product, resource, action), "Allowed(%q,%q,%q); perms %q", product, resource, action, append(g1, g2...))
		require.Equal(t, refAllowed(g2, product, resource, action), x.Allowed(bob, product, resource, action), "bob")
		// Effective says the same as Allowed: every listed permission, as
		// a request, is allowed.
		for _, p := range x.Effective(alice) {
			if p.Resource == "*" || p.Action == "*" || strings.Contains(p.Resource, "/") {
				continue
			}
			require.True(t, x.Allowed(alice, p.Product, p.Resource, p.Action), "effective %v not allowed", p)
		}
		x.DeleteGroup("g1")
		require.Equal(t, refAllowed(g2, product, resource, action), x.Allowed(alice, product, resource, action), "after DeleteGroup")
	})
}

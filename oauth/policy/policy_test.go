package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

func TestParseSample(t *testing.T) {
	t.Parallel()
	p := readPolicy(t, "sample.toml")
	require.Len(t, p.Groups, 3)
	assert.Equal(t, Group{
		Name:        "payments-ops",
		Description: "Payments operators",
		Permissions: []api.Permission{
			{Product: "midaz", Resource: "accounts", Action: "get"},
			{Product: "midaz", Resource: "accounts", Action: "post"},
			{Product: "midaz", Resource: "transactions", Action: "get"},
		},
		Members: []string{"user:alice", "app:fees-service", "user:carol"},
	}, p.Groups[0])
	assert.Equal(t, "fees-writers", p.Groups[2].Name)
	assert.Empty(t, p.Groups[2].Description)
}

func TestParseDedupes(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(`
[[group]]
name = "g"
members = ["user:a", "app:b", "user:a"]
[[group.permission]]
resource = "x"
actions = ["get", "get", "post"]
[[group.permission]]
resource = "x"
actions = ["get"]
`))
	require.NoError(t, err)
	assert.Equal(t, []string{"user:a", "app:b"}, p.Groups[0].Members)
	assert.Equal(t, []api.Permission{{Resource: "x", Action: "get"}, {Resource: "x", Action: "post"}}, p.Groups[0].Permissions)

	p, err = Parse(nil)
	require.NoError(t, err, "an empty file names no group and changes nothing")
	assert.Empty(t, p.Groups)
}

// TestParseRefuses is every way a file is refused: the fault it wraps and
// what the message must say (the key, the line, the fix).
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	const g = "[[group]]\nname = \"g\"\n"
	const perm = "[[group.permission]]\n"
	tests := []struct {
		name  string
		in    string
		fault *api.Fault
		says  []string
	}{
		{"unknown top-level key", "groups = []\n", api.ErrUnknownField, []string{`"groups"`, "line 1"}},
		{"unknown group key", g + "colour = \"red\"\n", api.ErrUnknownField, []string{`"group.colour"`, "line 3"}},
		{"unknown permission key", g + perm + "resource = \"x\"\naction = [\"get\"]\n", api.ErrUnknownField, []string{`"group.permission.action"`, "line 5"}},
		{"unknown key in later group", g + "[[group]]\nname = \"h\"\n\n\nmember = [\"user:a\"]\n", api.ErrUnknownField, []string{`"group.member"`, "line 7"}},
		{"syntax: unterminated string", "[[group]]\nname = \"g\n", api.ErrBadRequest, []string{"line 2, column"}},
		{"syntax: bad header", "[[group]\n", api.ErrBadRequest, []string{"line 1, column"}},
		{"syntax: duplicate key", g + "name = \"h\"\n", api.ErrBadRequest, []string{"line 3", "already defined"}},
		{"wrong type: name", "[[group]]\nname = 5\n", api.ErrInvalidField, []string{"line 2", "group.name must be a string"}},
		{"wrong type: members", g + "members = \"user:a\"\n", api.ErrInvalidField, []string{"line 3", "group.members must be an array of strings"}},
		{"wrong type: action", g + perm + "resource = \"x\"\nactions = [\"get\", 3]\n", api.ErrInvalidField, []string{"line 5", "group.permission.actions"}},
		{"wrong type: group", "group = 3\n", api.ErrInvalidField, []string{"line 1", "array of tables"}},
		{"not UTF-8", "[[group]]\nname = \"g\xff\"\n", api.ErrBadRequest, []string{"UTF-8"}},
		{"duplicate group", g + g, api.ErrInvalidField, []string{`group #2 "g"`, "group #1"}},
		{"missing name", "[[group]]\ndescription = \"d\"\n", api.ErrInvalidField, []string{"group #1", "name is required"}},
		{"name charset", "[[group]]\nname = \"pay ops\"\n", api.ErrInvalidField, []string{"only letters"}},
		{"name slash", "[[group]]\nname = \"a/b\"\n", api.ErrInvalidField, []string{"only letters"}},
		{"name too long", "[[group]]\nname = \"" + strings.Repeat("a", 129) + "\"\n", api.ErrInvalidField, []string{"at most 128"}},
		{"description control", g + "description = \"a\\nb\"\n", api.ErrInvalidField, []string{"control character"}},
		{"description too long", g + "description = \"" + strings.Repeat("d", 1025) + "\"\n", api.ErrInvalidField, []string{"at most 1024"}},
		{"member without kind", g + "members = [\"alice\"]\n", api.ErrInvalidField, []string{`"alice"`, "user:NAME or app:CLIENT_ID"}},
		{"member wrong kind", g + "members = [\"group:x\"]\n", api.ErrInvalidField, []string{"user:NAME"}},
		{"member empty name", g + "members = [\"user:\"]\n", api.ErrInvalidField, []string{"1 to 256"}},
		{"member space", g + "members = [\"user:a b\"]\n", api.ErrInvalidField, []string{"no spaces"}},
		{"resource missing", g + perm + "actions = [\"get\"]\n", api.ErrInvalidField, []string{"permission #1", "resource is required"}},
		{"resource partial wildcard", g + perm + "resource = \"acc*\"\nactions = [\"get\"]\n", api.ErrInvalidField, []string{`"acc*"`}},
		{"resource wildcard first", g + perm + "resource = \"*/x\"\nactions = [\"get\"]\n", api.ErrInvalidField, []string{`"*/x"`}},
		{"resource empty segment", g + perm + "resource = \"midaz//x\"\nactions = [\"get\"]\n", api.ErrInvalidField, []string{`"midaz//x"`}},
		{"resource non-ASCII", g + perm + "resource = \"cônta\"\nactions = [\"get\"]\n", api.ErrInvalidField, []string{"cônta"}},
		{"product charset", g + perm + "product = \"mi daz\"\nresource = \"x\"\nactions = [\"get\"]\n", api.ErrInvalidField, []string{"product"}},
		{"product wildcard", g + perm + "product = \"*\"\nresource = \"x\"\nactions = [\"get\"]\n", api.ErrInvalidField, []string{"product"}},
		{"no actions", g + perm + "resource = \"x\"\n", api.ErrInvalidField, []string{"actions is empty"}},
		{"upper-case action", g + perm + "resource = \"x\"\nactions = [\"GET\"]\n", api.ErrInvalidField, []string{`write "get"`}},
		{"unknown action", g + perm + "resource = \"x\"\nactions = [\"read\"]\n", api.ErrInvalidField, []string{`"read"`, "allowed: get"}},
		{"second permission named", g + perm + "resource = \"x\"\nactions = [\"get\"]\n" + perm + "resource = \"y\"\nactions = []\n", api.ErrInvalidField, []string{"permission #2"}},
		{"too large", strings.Repeat("#", MaxBytes+1), api.ErrTooLarge, []string{"at most 1048576"}},
		{"too many groups", manyGroups(MaxGroups + 1), api.ErrTooLarge, []string{"10001 groups"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.fault, "%v", err)
			assert.True(t, strings.HasPrefix(err.Error(), "policy: "), "%v", err)
			for _, s := range tt.says {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func manyGroups(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[[group]]\nname=\"g%d\"\n", i)
	}
	return b.String()
}

func TestParseLimitsAccepted(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(manyGroups(MaxGroups)))
	require.NoError(t, err)
	assert.Len(t, p.Groups, MaxGroups)
	for _, res := range []string{"*", "accounts", "midaz/accounts", "midaz/*", "midaz/a/b", "asset-rates", "v1.2_x"} {
		_, err := Parse([]byte("[[group]]\nname=\"g\"\n[[group.permission]]\nresource=\"" + res + "\"\nactions=[\"*\", \"head\", \"options\"]\n"))
		assert.NoError(t, err, res)
	}
}

// TestParseFlipEveryByte flips each byte of the sample: every result is
// either refused with a catalogued error or a valid policy that re-plans
// to nothing once applied. Never a panic, never an uncatalogued error.
func TestParseFlipEveryByte(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "sample.toml"))
	require.NoError(t, err)
	for i := range data {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			mut := []byte(string(data))
			mut[i] ^= x
			checkParse(t, mut)
		}
	}
}

// checkParse is the property the fuzzer and the flip test share.
func checkParse(t *testing.T, data []byte) {
	t.Helper()
	p, err := Parse(data)
	if err != nil {
		var f *api.Fault
		require.ErrorAs(t, err, &f, "uncatalogued error for %q: %v", data, err)
		require.NotSame(t, api.ErrInternal, f, "uncatalogued error for %q: %v", data, err)
		return
	}
	current := []GroupState{{Name: "admin-group", Members: []string{"user:admin"},
		Permissions: []api.Permission{{Resource: "*", Action: "*"}}}}
	for _, g := range p.Groups {
		// Half the named groups exist already, with something to revoke.
		if len(g.Name)%2 == 0 {
			current = append(current, GroupState{Name: g.Name, Description: "old",
				Permissions: []api.Permission{{Resource: "old", Action: "get"}, {Product: "midaz", Resource: "*", Action: "*"}},
				Members:     []string{"user:old", "app:old"}})
		}
	}
	after := apply(t, current, Plan(p, current))
	again := Plan(p, after)
	require.Empty(t, again, "re-plan of %q not empty: %v", data, Strings(again))
	for _, c := range Plan(p, nil) {
		require.NotContains(t, c.String(), "\n", "change prints on two lines: %q", c.String())
		require.NotContains(t, c.String(), "\r", "change prints on two lines: %q", c.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"sample.toml", "sample-current.toml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("[[group]]\nname = \"g\"\n[[group.permission]]\nresource = \"midaz/accounts\"\nactions = [\"get\"]\n[[group.permission]]\nproduct = \"midaz\"\nresource = \"accounts\"\nactions = [\"get\"]\n"))
	f.Add([]byte("[group]\nname = \"g\"\nmembers = [\"user:a\", \"user:a\"]\n"))
	f.Add([]byte("group = [{name = \"g\", permission = [{resource = \"*\", actions = [\"*\"]}]}]\n"))
	f.Add([]byte("[[group]]\nname = 'g'\ndescription = \"\"\"\nx\"\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
	})
}

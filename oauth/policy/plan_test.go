package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// state turns a parsed policy into GroupStates, as the store would hold
// them.
func state(p Policy) []GroupState {
	var out []GroupState
	for _, g := range p.Groups {
		out = append(out, GroupState{Name: g.Name, Description: g.Description,
			Permissions: slices.Clone(g.Permissions), Members: slices.Clone(g.Members)})
	}
	return out
}

// apply is an in-memory store: it applies changes to state the way the
// identity service would, one by one, and fails on a change that makes no
// sense (granting what is there, revoking what is not).
func apply(t testing.TB, st []GroupState, changes []Change) []GroupState {
	t.Helper()
	st = slices.Clone(st)
	find := func(name string) *GroupState {
		for i := range st {
			if st[i].Name == name {
				return &st[i]
			}
		}
		require.FailNow(t, fmt.Sprintf("change on missing group %q", name))
		return nil
	}
	for _, c := range changes {
		switch c.Kind {
		case CreateGroup:
			for _, g := range st {
				require.NotEqual(t, c.Group, g.Name, "create existing group %q", c.Group)
			}
			st = append(st, GroupState{Name: c.Group, Description: c.Description})
		case SetDescription:
			find(c.Group).Description = c.Description
		case Grant:
			g := find(c.Group)
			require.NotContains(t, g.Permissions, c.Permission, "%s: already granted", c)
			g.Permissions = append(g.Permissions, c.Permission)
		case Revoke:
			g := find(c.Group)
			require.Contains(t, g.Permissions, c.Permission, "%s: not granted", c)
			g.Permissions = slices.DeleteFunc(slices.Clone(g.Permissions), func(p api.Permission) bool { return p == c.Permission })
		case AddMember:
			g := find(c.Group)
			require.NotContains(t, g.Members, c.Member, "%s: already a member", c)
			g.Members = append(g.Members, c.Member)
		case RemoveMember:
			g := find(c.Group)
			require.Contains(t, g.Members, c.Member, "%s: not a member", c)
			g.Members = slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == c.Member })
		default:
			require.FailNow(t, fmt.Sprintf("unknown change %q", c.Kind))
		}
	}
	return st
}

func readPolicy(t *testing.T, name string) Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	p, err := Parse(data)
	require.NoError(t, err)
	return p
}

// TestPlanGolden is the printed plan of testdata/sample.toml against
// testdata/sample-current.toml; refresh with -update.
func TestPlanGolden(t *testing.T) {
	t.Parallel()
	desired := readPolicy(t, "sample.toml")
	current := state(readPolicy(t, "sample-current.toml"))
	changes := Plan(desired, current)
	got := strings.Join(Strings(changes), "\n") + "\n"
	testkit.Golden(t, "sample.plan", []byte(got))

	after := apply(t, current, changes)
	assert.Empty(t, Plan(desired, after), "second apply of the same file changes nothing")
	for _, g := range after {
		if g.Name == "admin-group" {
			assert.Equal(t, current[2], g, "a group the file does not name is untouched")
		}
	}
}

// TestPlanRevokes checks that what the file does not list goes: the
// property that makes revocation code.
func TestPlanRevokes(t *testing.T) {
	t.Parallel()
	current := []GroupState{{
		Name: "ops", Description: "d",
		Permissions: []api.Permission{
			{Product: "midaz", Resource: "accounts", Action: "get"},
			{Product: "midaz", Resource: "accounts", Action: "delete"},
			{Resource: "*", Action: "*"},
		},
		Members: []string{"user:alice", "user:mallory"},
	}}
	desired := Policy{Groups: []Group{{
		Name: "ops", Description: "d",
		Permissions: []api.Permission{{Product: "midaz", Resource: "accounts", Action: "get"}},
		Members:     []string{"user:alice"},
	}}}
	changes := Plan(desired, current)
	assert.Equal(t, []string{
		"- revoke ops *:*",
		"- revoke ops midaz/accounts:delete",
		"- remove-member ops user:mallory",
	}, Strings(changes))
	after := apply(t, current, changes)
	assert.Equal(t, desired.Groups[0].Permissions, after[0].Permissions)
	assert.Equal(t, desired.Groups[0].Members, after[0].Members)

	// A file that lists a group with no permissions and no members
	// empties it.
	empty := Policy{Groups: []Group{{Name: "ops", Description: "d"}}}
	after = apply(t, current, Plan(empty, current))
	assert.Empty(t, after[0].Permissions)
	assert.Empty(t, after[0].Members)
}

// TestPlanSpellings checks that two spellings of one permission are one
// permission: no revoke-and-grant churn, and duplicates collapse.
func TestPlanSpellings(t *testing.T) {
	t.Parallel()
	current := []GroupState{{
		Name: "g",
		Permissions: []api.Permission{
			{Resource: "midaz/accounts", Action: "get"},
			{Product: "midaz", Resource: "accounts", Action: "GET"},
			{Resource: "x", Action: "get"},
			{Resource: "x", Action: "get"},
			{Resource: "", Action: "get"},
		},
		Members: []string{"user:a", "user:a"},
	}}
	desired := Policy{Groups: []Group{{
		Name:        "g",
		Permissions: []api.Permission{{Product: "midaz", Resource: "accounts", Action: "get"}, {Resource: "x", Action: "get"}},
		Members:     []string{"user:a"},
	}}}
	changes := Plan(desired, current)
	assert.Equal(t, []string{
		`- revoke g ":get"`,
		"- revoke g midaz/accounts:get",
	}, Strings(changes))
	require.Len(t, changes, 2)
	assert.Equal(t, api.Permission{Product: "midaz", Resource: "accounts", Action: "GET"}, changes[1].Permission, "revoke names the stored spelling")
	assert.Empty(t, Plan(desired, apply(t, current[:1], changes)))

	// When the file spells it as stored, that record is the one kept.
	desired.Groups[0].Permissions[0] = api.Permission{Product: "midaz", Resource: "accounts", Action: "GET"}
	changes = Plan(desired, current)
	require.Len(t, changes, 2)
	assert.Equal(t, api.Permission{Resource: "midaz/accounts", Action: "get"}, changes[1].Permission)
}

func TestChangeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    Change
		want string
	}{
		{Change{Kind: CreateGroup, Group: "g"}, "+ create-group g"},
		{Change{Kind: CreateGroup, Group: "g", Description: `Say "hi"`}, `+ create-group g "Say \"hi\""`},
		{Change{Kind: SetDescription, Group: "g", Description: ""}, `~ set-description g ""`},
		{Change{Kind: Grant, Group: "g", Permission: api.Permission{Product: "midaz", Resource: "accounts", Action: "get"}}, "+ grant g midaz/accounts:get"},
		{Change{Kind: Revoke, Group: "g", Permission: api.Permission{Resource: "*", Action: "*"}}, "- revoke g *:*"},
		{Change{Kind: AddMember, Group: "g", Member: "app:fees"}, "+ add-member g app:fees"},
		{Change{Kind: RemoveMember, Group: "g", Member: "user:x\n+ grant g *:*"}, `- remove-member g "user:x\n+ grant g *:*"`},
		{Change{Kind: RemoveMember, Group: "g", Member: "user:zoë"}, `- remove-member g "user:zoë"`},
		{Change{Kind: "bogus", Group: "g"}, "? bogus g"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.c.String())
		})
	}
}

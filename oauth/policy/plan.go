package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
)

// GroupState is a group as it is now, as the identity service reads it
// from the store. Members are "user:<name>" or "app:<clientId>", written
// the way Policy writes them.
type GroupState struct {
	Name        string
	Description string
	Permissions []api.Permission
	Members     []string
}

// Kind is what a Change does.
type Kind string

// The kinds of change, in the order Plan lists them within a group:
// removals come before additions, so that a plan applied step by step
// never grants more than the old or the new state would.
const (
	CreateGroup    Kind = "create-group"
	SetDescription Kind = "set-description"
	Revoke         Kind = "revoke"
	Grant          Kind = "grant"
	RemoveMember   Kind = "remove-member"
	AddMember      Kind = "add-member"
)

// Change is one step of a plan. Which fields matter depends on Kind:
// Description for CreateGroup and SetDescription, Permission for Grant
// and Revoke (a Revoke names the permission exactly as it is stored, so
// the store can find it), Member for AddMember and RemoveMember.
type Change struct {
	Kind        Kind
	Group       string
	Description string
	Permission  api.Permission
	Member      string
}

// String is the change as apply prints it, e.g.
// "+ grant payments-ops midaz/accounts:get". Text that came from the
// store rather than from the validated file is quoted when it holds
// anything but plain characters, so a crafted name cannot forge lines.
func (c Change) String() string {
	switch c.Kind {
	case CreateGroup:
		if c.Description == "" {
			return fmt.Sprintf("+ create-group %s", show(c.Group))
		}
		return fmt.Sprintf("+ create-group %s %q", show(c.Group), c.Description)
	case SetDescription:
		return fmt.Sprintf("~ set-description %s %q", show(c.Group), c.Description)
	case Grant:
		return fmt.Sprintf("+ grant %s %s", show(c.Group), showPermission(c.Permission))
	case Revoke:
		return fmt.Sprintf("- revoke %s %s", show(c.Group), showPermission(c.Permission))
	case AddMember:
		return fmt.Sprintf("+ add-member %s %s", show(c.Group), show(c.Member))
	case RemoveMember:
		return fmt.Sprintf("- remove-member %s %s", show(c.Group), show(c.Member))
	}
	return fmt.Sprintf("? %s %s", show(string(c.Kind)), show(c.Group))
}

// Strings is changes as printed, for api.ApplyResult.
func Strings(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.String()
	}
	return out
}

// showPermission writes product/resource:action, from the normal form,
// so two spellings of one permission print alike.
func showPermission(p api.Permission) string {
	nn, ok := authz.Normalize(authz.FromWire(p))
	n := nn.Wire()
	if !ok {
		n = p
	}
	s := n.Resource + ":" + n.Action
	if n.Product != "" {
		s = n.Product + "/" + s
	}
	if n.Resource == "" || n.Action == "" {
		return strconv.Quote(s) // a broken stored record; make it stand out
	}
	return show(s)
}

// show returns s when it is plain, else s quoted.
func show(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}

// permKey is the normal form of a permission: two permissions with the
// same key grant the same requests, so the planner does not revoke one
// spelling to grant the other.
func permKey(p api.Permission) api.Permission {
	if n, ok := authz.Normalize(authz.FromWire(p)); ok {
		return n.Wire()
	}
	return p
}

// Plan returns the changes that make every group desired names match it
// exactly, in a deterministic order: groups in the file's order, and
// within a group create or set-description, revokes, grants, member
// removals, member additions, each sorted. Groups only in current are
// untouched. When current lists a name twice, the first is used.
func Plan(desired Policy, current []GroupState) []Change {
	now := make(map[string]*GroupState, len(current))
	for i := range current {
		if _, dup := now[current[i].Name]; !dup {
			now[current[i].Name] = &current[i]
		}
	}
	var out []Change
	for _, g := range desired.Groups {
		cur, exists := now[g.Name]
		switch {
		case !exists:
			out = append(out, Change{Kind: CreateGroup, Group: g.Name, Description: g.Description})
			cur = &GroupState{Name: g.Name}
		case cur.Description != g.Description:
			out = append(out, Change{Kind: SetDescription, Group: g.Name, Description: g.Description})
		}
		out = append(out, planPermissions(g, cur.Permissions)...)
		out = append(out, planMembers(g, cur.Members)...)
	}
	return out
}

func planPermissions(g Group, current []api.Permission) []Change {
	want := make(map[api.Permission]bool, len(g.Permissions))
	for _, p := range g.Permissions {
		want[permKey(p)] = true
	}
	// Keep one stored permission per wanted key, preferring the one the
	// file spells the same way; revoke every other.
	kept := make(map[api.Permission]bool, len(current))
	var revokes, grants []api.Permission
	literal := make(map[api.Permission]bool, len(g.Permissions))
	for _, p := range g.Permissions {
		literal[p] = true
	}
	// The same stored permission listed twice is one record.
	ordered := dedupe(slices.Clone(current), func(p api.Permission) api.Permission { return p })
	slices.SortStableFunc(ordered, func(a, b api.Permission) int {
		return boolOrder(literal[a], literal[b]) // literal matches first
	})
	for _, p := range ordered {
		k := permKey(p)
		if want[k] && !kept[k] {
			kept[k] = true
			continue
		}
		revokes = append(revokes, p)
	}
	for _, p := range g.Permissions {
		k := permKey(p)
		if !kept[k] {
			kept[k] = true
			grants = append(grants, p)
		}
	}
	slices.SortFunc(revokes, comparePerm)
	slices.SortFunc(grants, comparePerm)
	var out []Change
	for _, p := range revokes {
		out = append(out, Change{Kind: Revoke, Group: g.Name, Permission: p})
	}
	for _, p := range grants {
		out = append(out, Change{Kind: Grant, Group: g.Name, Permission: p})
	}
	return out
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// comparePerm orders by normal form, then by spelling, so the order does
// not depend on how the store returned them.
func comparePerm(a, b api.Permission) int {
	ka, kb := permKey(a), permKey(b)
	return cmp.Or(
		cmp.Compare(ka.Product, kb.Product), cmp.Compare(ka.Resource, kb.Resource), cmp.Compare(ka.Action, kb.Action),
		cmp.Compare(a.Product, b.Product), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Action, b.Action))
}

func planMembers(g Group, current []string) []Change {
	want := make(map[string]bool, len(g.Members))
	for _, m := range g.Members {
		want[m] = true
	}
	have := make(map[string]bool, len(current))
	var removes, adds []string
	for _, m := range current {
		if have[m] {
			continue
		}
		have[m] = true
		if !want[m] {
			removes = append(removes, m)
		}
	}
	for _, m := range g.Members {
		if !have[m] {
			adds = append(adds, m)
		}
	}
	slices.Sort(removes)
	slices.Sort(adds)
	var out []Change
	for _, m := range removes {
		out = append(out, Change{Kind: RemoveMember, Group: g.Name, Member: m})
	}
	for _, m := range adds {
		out = append(out, Change{Kind: AddMember, Group: g.Name, Member: m})
	}
	return out
}

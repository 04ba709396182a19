package directory

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
)

var groupNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckGroupName refuses a group name outside 1 to 128 of letters,
// digits and . _ - (starting with a letter or digit).
func CheckGroupName(name string) error {
	if name == "" {
		return missing("name")
	}
	if !groupNameRE.MatchString(name) {
		return invalid("group name %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

var permPartRE = regexp.MustCompile(`^(\*|[A-Za-z0-9][A-Za-z0-9._/-]{0,127})$`)

// NormPermission checks a permission and lower-cases its action (HTTP
// verbs, compared case-insensitively).
func NormPermission(p api.Permission) (store.Permission, error) {
	if p.Resource == "" || p.Action == "" {
		return store.Permission{}, missing("resource", "action")
	}
	if !permPartRE.MatchString(p.Resource) {
		return store.Permission{}, invalid("resource %q must be \"*\" or letters, digits, '.', '_', '-', '/'", p.Resource)
	}
	action := strings.ToLower(p.Action)
	if !permPartRE.MatchString(action) || strings.Contains(action, "/") {
		return store.Permission{}, invalid("action %q must be \"*\" or a verb such as get, post, patch, put, delete, head", p.Action)
	}
	if p.Product != "" && (!permPartRE.MatchString(p.Product) || p.Product == "*" || strings.Contains(p.Product, "/")) {
		return store.Permission{}, invalid("product %q must be a plain name (leave it empty for any product)", p.Product)
	}
	return store.Permission{Product: p.Product, Resource: p.Resource, Action: action}, nil
}

// APIPerms is the wire form of stored permissions.
func APIPerms(ps []store.Permission) []api.Permission {
	out := make([]api.Permission, 0, len(ps))
	for _, p := range ps {
		out = append(out, api.Permission{Product: p.Product, Resource: p.Resource, Action: p.Action})
	}
	return out
}

// indexPerms is ps as the permission index holds them.
func indexPerms(ps []store.Permission) []authz.Permission {
	out := make([]authz.Permission, 0, len(ps))
	for _, p := range ps {
		out = append(out, authz.Permission(p))
	}
	return out
}

func groupView(g store.Group) api.Group {
	return api.Group{ID: g.Name, Name: g.Name, Description: g.Description, Permissions: APIPerms(g.Permissions),
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, TenantID: g.TenantID, TenantSlug: g.TenantSlug}
}

// ListGroups returns every group, by name.
func (s *Groups) ListGroups() ([]api.Group, error) { return s.ListGroupsFor(change.System) }

// ListGroupsFor is ListGroups for the caller a: its tenant's groups and
// the shared ones.
func (s *Groups) ListGroupsFor(a change.Actor) ([]api.Group, error) {
	sc, err := s.tenants.scopeFor(a)
	if err != nil {
		return nil, storeErr("list groups", err)
	}
	gs, err := s.c.st.Groups().List("", 0)
	if err != nil {
		return nil, storeErr("list groups", err)
	}
	out := make([]api.Group, 0, len(gs))
	for _, g := range gs {
		if !sc.seesGroup(g.TenantID) {
			continue
		}
		v, err := s.groupOut(a, g)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// GetGroup returns a group by name.
func (s *Groups) GetGroup(name string) (api.Group, error) { return s.GetGroupFor(change.System, name) }

// GetGroupFor is GetGroup for the caller a.
func (s *Groups) GetGroupFor(a change.Actor, name string) (api.Group, error) {
	var g store.Group
	err := s.c.st.View(func(tx *store.Tx) error {
		var err error
		g, err = s.tenants.groupIn(tx, a, name, false)
		return err
	})
	if err != nil {
		return api.Group{}, storeErr(fmt.Sprintf("group %q", name), err)
	}
	return s.groupOut(a, g)
}

// CreateGroup makes an empty group.
func (s *Groups) CreateGroup(ctx context.Context, a change.Actor, req api.CreateGroupRequest) (api.Group, error) {
	if err := errors.Join(CheckGroupName(req.Name), checkName("description", req.Description)); err != nil {
		return api.Group{}, err
	}
	var g store.Group
	err := s.c.st.Update(func(tx *store.Tx) error {
		tid, tslug, err := s.tenants.newTenant(tx, a, req.TenantID, req.TenantSlug)
		if err != nil {
			return err
		}
		if g, err = tx.Groups().Create(store.Group{Name: req.Name, Description: req.Description, TenantID: tid, TenantSlug: tslug}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "group.create", "group:"+g.Name, "ok", nil))
	})
	if err != nil {
		return api.Group{}, storeErr(fmt.Sprintf("create group %q", req.Name), err)
	}
	s.c.RefreshGroup(g.Name)
	return s.groupOut(a, g)
}

// memberBatch bounds the members one transaction takes a group off, so
// a group of any size can be deleted within Badger's transaction limit.
const memberBatch = 256

// DeleteGroup takes a group off its members, a batch per transaction,
// and removes it in the transaction that takes off the last batch, with
// its audit entry. A failure half-way leaves a group with fewer members,
// which a second delete finishes.
func (s *Groups) DeleteGroup(ctx context.Context, a change.Actor, name string) error {
	removed := 0
	for {
		var changed []string
		done := false
		err := s.c.st.Update(func(tx *store.Tx) error {
			changed, done = nil, false
			if _, err := s.tenants.groupIn(tx, a, name, true); err != nil {
				return err
			}
			if err := s.tenants.mayConferGroups(tx, a, []string{name}); err != nil {
				return err
			}
			members, err := tx.Groups().Members(name)
			if err != nil {
				return err
			}
			batch := members[:min(len(members), memberBatch)]
			for _, m := range batch {
				if _, err := SetMembership(tx, m, name, false); err != nil {
					return err
				}
				changed = append(changed, m.ID)
			}
			if len(members) > memberBatch {
				return nil
			}
			done = true
			if err := tx.Groups().Delete(name); err != nil {
				return err
			}
			return tx.Audit().Stage(s.c.entry(a, "group.delete", "group:"+name, "ok",
				map[string]string{"membersRemoved": fmt.Sprint(removed + len(batch))}))
		})
		if err != nil {
			return storeErr(fmt.Sprintf("delete group %q", name), err)
		}
		removed += len(changed)
		for _, id := range changed {
			s.c.RefreshSubject(id)
		}
		if done {
			s.c.RefreshGroup(name)
			return nil
		}
	}
}

type subjectGroups struct {
	id     string
	groups []string
}

// SetMembership adds (or removes) group on a member's record, inside tx,
// and returns the member's groups after.
func SetMembership(tx *store.Tx, m store.Member, group string, add bool) ([]string, error) {
	edit := func(groups []string) []string {
		if add {
			if !slices.Contains(groups, group) {
				groups = append(groups, group)
				slices.Sort(groups)
			}
			return groups
		}
		return slices.DeleteFunc(groups, func(g string) bool { return g == group })
	}
	switch m.Kind {
	case store.MemberUser:
		u, err := tx.Users().Update(m.ID, func(u store.User) (store.User, error) { u.Groups = edit(u.Groups); return u, nil })
		return u.Groups, err
	case store.MemberApp:
		ap, err := tx.Applications().Update(m.ID, func(ap store.Application) (store.Application, error) {
			ap.Groups = edit(ap.Groups)
			return ap, nil
		})
		return ap.Groups, err
	}
	return nil, fmt.Errorf("identity: member kind %q: %w", m.Kind, api.ErrInvalidField)
}

// Grant adds a permission to a group (idempotent).
func (s *Groups) Grant(ctx context.Context, a change.Actor, group string, p api.Permission) (api.Group, error) {
	return s.editPermissions(a, group, p, true)
}

// Revoke removes a permission from a group (idempotent).
func (s *Groups) Revoke(ctx context.Context, a change.Actor, group string, p api.Permission) (api.Group, error) {
	return s.editPermissions(a, group, p, false)
}

func (s *Groups) editPermissions(a change.Actor, group string, p api.Permission, grant bool) (api.Group, error) {
	perm, err := NormPermission(p)
	if err != nil {
		return api.Group{}, err
	}
	typ := "group.grant"
	if !grant {
		typ = "group.revoke"
	}
	var g store.Group
	var out api.Group
	var refused error // the caller may not confer perm: said as is, not as a store error
	err = s.c.st.Update(func(tx *store.Tx) error {
		var err error
		g, err = tx.Groups().Update(group, func(g store.Group) (store.Group, error) {
			// Another tenant's group is missing before anything else is said.
			if err := s.tenants.groupVisible(tx, a, g, true); err != nil {
				return g, err
			}
			if refused = s.tenants.mayConfer(a, []store.Permission{perm}); refused != nil {
				return g, refused
			}
			has := slices.Contains(g.Permissions, perm)
			switch {
			case grant && !has:
				g.Permissions = append(g.Permissions, perm)
			case !grant && has:
				g.Permissions = slices.DeleteFunc(g.Permissions, func(x store.Permission) bool { return x == perm })
			}
			return g, nil
		})
		if err != nil {
			return err
		}
		if out, err = s.groupOutIn(tx, a, g); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, typ, "group:"+group, "ok",
			map[string]string{"product": perm.Product, "resource": perm.Resource, "action": perm.Action}))
	})
	if refused != nil {
		return api.Group{}, refused
	}
	if err != nil {
		return api.Group{}, storeErr(fmt.Sprintf("group %q", group), err)
	}
	s.c.RefreshGroup(g.Name)
	return out, nil
}

// ResolveMember finds the one member a "user:X", "app:X" or bare X
// names; a bare X that names a user and an application is refused,
// naming both.
func (s *Groups) ResolveMember(tx *store.Tx, ref string) (store.Member, string, error) {
	return resolveMember(s, tx, change.System, ref)
}

// AddMember puts a user or application in a group.
func (s *Groups) AddMember(ctx context.Context, a change.Actor, group, member string) (api.Group, error) {
	return s.editMember(a, group, member, true)
}

// RemoveMember takes a user or application out of a group.
func (s *Groups) RemoveMember(ctx context.Context, a change.Actor, group, member string) (api.Group, error) {
	return s.editMember(a, group, member, false)
}

func (s *Groups) editMember(a change.Actor, group, member string, add bool) (api.Group, error) {
	typ := "group.add_member"
	if !add {
		typ = "group.remove_member"
	}
	var g store.Group
	var m store.Member
	err := s.c.st.Update(func(tx *store.Tx) error {
		var err error
		if g, err = s.tenants.groupIn(tx, a, group, false); err != nil {
			return err
		}
		if m, _, err = resolveMember(s, tx, a, member); err != nil {
			return err
		}
		if err := s.tenants.memberVisible(tx, a, m, member); err != nil {
			return err
		}
		if err := s.tenants.mayConferGroups(tx, a, []string{group}); err != nil {
			return err
		}
		if err := s.tenants.MayActOn(a, m.ID); err != nil {
			return err
		}
		if _, err = SetMembership(tx, m, group, add); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, typ, "group:"+group, "ok", map[string]string{"member": m.Kind + ":" + m.ID}))
	})
	if err != nil {
		return api.Group{}, storeErr(fmt.Sprintf("group %q member %q", group, member), err)
	}
	s.c.RefreshSubject(m.ID)
	return s.groupOut(a, g)
}

// Members lists a group's members from the member index.
func (s *Groups) Members(group string) ([]api.Member, error) {
	return s.MembersFor(change.System, group)
}

// MembersFor is Members for the caller a: only its tenant's members.
func (s *Groups) MembersFor(a change.Actor, group string) ([]api.Member, error) {
	var out []api.Member
	err := s.c.st.View(func(tx *store.Tx) error {
		if _, err := s.tenants.groupIn(tx, a, group, false); err != nil {
			return err
		}
		var err error
		out, err = s.membersOf(tx, a, group)
		return err
	})
	return out, storeErr(fmt.Sprintf("members of group %q", group), err)
}

// membersOf is MembersFor inside tx, of a group whose visibility to a is
// checked.
func (s *Groups) membersOf(tx *store.Tx, a change.Actor, group string) ([]api.Member, error) {
	out := []api.Member{}
	sc, err := s.tenants.scopeOf(tx, a)
	if err != nil {
		return nil, err
	}
	ms, err := tx.Groups().Members(group)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		v := api.Member{Kind: m.Kind, ID: m.ID}
		tenant := ""
		switch m.Kind {
		case store.MemberUser:
			if u, err := tx.Users().Get(m.ID); err == nil {
				v.Name, tenant = u.Username, u.TenantID
			}
		case store.MemberApp:
			if ap, err := tx.Applications().Get(m.ID); err == nil {
				v.Name, tenant = ap.ClientID, ap.TenantID
			}
		}
		if !sc.sees(tenant) {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// groupOut is a group as the API answers it: with the usernames of its
// user members (Lerian's GroupResponse.users), from the member index.
func (s *Groups) groupOut(a change.Actor, g store.Group) (api.Group, error) {
	var v api.Group
	err := s.c.st.View(func(tx *store.Tx) error {
		var err error
		v, err = s.groupOutIn(tx, a, g)
		return err
	})
	return v, storeErr(fmt.Sprintf("members of group %q", g.Name), err)
}

// groupOutIn is groupOut inside tx, of a group read in tx: a change
// answers from the transaction that made it instead of reading again
// after its commit.
func (s *Groups) groupOutIn(tx *store.Tx, a change.Actor, g store.Group) (api.Group, error) {
	if err := s.tenants.groupVisible(tx, a, g, false); err != nil {
		return api.Group{}, err
	}
	v := groupView(g)
	v.Users = []string{}
	ms, err := s.membersOf(tx, a, g.Name)
	if err != nil {
		return api.Group{}, err
	}
	for _, m := range ms {
		if m.Kind == store.MemberUser && m.Name != "" {
			v.Users = append(v.Users, m.Name)
		}
	}
	return v, nil
}

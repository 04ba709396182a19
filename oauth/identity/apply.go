package identity

import (
	"context"
	"errors"
	"fmt"
	"github.com/accessd/accessd/oauth/credential"
	"slices"
	"strconv"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/policy"
	"github.com/accessd/accessd/store"
)

// Apply makes the groups a policy file names match it exactly (platform
// data as code): it creates them, sets descriptions, grants and revokes
// permissions and adds and removes members so that a second apply of the
// same file changes nothing. Groups the file does not name are left
// alone. The whole plan commits in one transaction, or nothing does; with
// dry it is only reported.
func (s *Service) Apply(ctx context.Context, a Actor, data []byte, dry bool) (api.ApplyResult, error) {
	desired, err := policy.Parse(data)
	if err != nil {
		return api.ApplyResult{}, err
	}
	// Members are compared as written: write users in the canonical form
	// the store keeps, so "user:Alice" and "user:alice" are one member.
	for gi := range desired.Groups {
		for mi, m := range desired.Groups[gi].Members {
			if name, ok := strings.CutPrefix(m, "user:"); ok {
				if c, err := credential.CanonicalUsername(name); err == nil {
					desired.Groups[gi].Members[mi] = "user:" + c
				}
			}
		}
	}
	var changes []policy.Change
	touchedGroups := map[string][]api.Permission{}
	touchedSubjects := map[string][]string{}
	err = s.st.Update(func(tx *store.Tx) error {
		clear(touchedGroups)
		clear(touchedSubjects)
		current, err := s.policyState(tx, desired)
		if err != nil {
			return err
		}
		changes = policy.Plan(desired, current)
		if dry || len(changes) == 0 {
			return nil
		}
		for _, c := range changes {
			if err := s.applyChange(tx, c, touchedGroups, touchedSubjects); err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
		}
		return tx.Audit().Stage(s.entry(a, "policy.apply", "policy", "ok",
			map[string]string{"changes": strconv.Itoa(len(changes))}))
	})
	if err != nil {
		return api.ApplyResult{}, storeErr("apply policy", err)
	}
	if !dry {
		for g := range touchedGroups {
			s.refreshGroup(g)
		}
		for id := range touchedSubjects {
			s.refreshSubject(id)
		}
	}
	out := api.ApplyResult{DryRun: dry, Changes: policy.Strings(changes)}
	if out.Changes == nil {
		out.Changes = []string{}
	}
	return out, nil
}

// policyState reads the groups the policy names as they are now.
func (s *Service) policyState(tx *store.Tx, desired policy.Policy) ([]policy.GroupState, error) {
	var out []policy.GroupState
	for _, dg := range desired.Groups {
		g, err := tx.Groups().Get(dg.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st := policy.GroupState{Name: g.Name, Description: g.Description, Permissions: APIPerms(g.Permissions)}
		ms, err := tx.Groups().Members(g.Name)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			switch m.Kind {
			case store.MemberUser:
				u, err := tx.Users().Get(m.ID)
				if err != nil {
					return nil, err
				}
				st.Members = append(st.Members, "user:"+u.Username)
			case store.MemberApp:
				ap, err := tx.Applications().Get(m.ID)
				if err != nil {
					return nil, err
				}
				st.Members = append(st.Members, "app:"+ap.ClientID)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Service) applyChange(tx *store.Tx, c policy.Change, groups map[string][]api.Permission, subjects map[string][]string) error {
	editGroup := func(fn func(*store.Group) error) error {
		g, err := tx.Groups().Update(c.Group, func(g store.Group) (store.Group, error) { return g, fn(&g) })
		if err == nil {
			groups[g.Name] = APIPerms(g.Permissions)
		}
		return err
	}
	switch c.Kind {
	case policy.CreateGroup:
		if err := checkGroupName(c.Group); err != nil {
			return err
		}
		_, err := tx.Groups().Create(store.Group{Name: c.Group, Description: c.Description})
		groups[c.Group] = nil
		return err
	case policy.SetDescription:
		return editGroup(func(g *store.Group) error { g.Description = c.Description; return nil })
	case policy.Grant, policy.Revoke:
		p, err := normPermission(c.Permission)
		if c.Kind == policy.Revoke {
			// A revoke names the permission as stored.
			p, err = store.Permission{Product: c.Permission.Product, Resource: c.Permission.Resource, Action: c.Permission.Action}, nil
		}
		if err != nil {
			return err
		}
		return editGroup(func(g *store.Group) error {
			g.Permissions = slices.DeleteFunc(g.Permissions, func(x store.Permission) bool { return x == p })
			if c.Kind == policy.Grant {
				g.Permissions = append(g.Permissions, p)
			}
			return nil
		})
	case policy.AddMember, policy.RemoveMember:
		m, _, err := s.resolveMember(tx, c.Member)
		if err != nil {
			return err
		}
		gs, err := setMembership(tx, m, c.Group, c.Kind == policy.AddMember)
		if err != nil {
			return err
		}
		subjects[m.ID] = gs
		return nil
	}
	return fmt.Errorf("identity: unknown change kind %q: %w", c.Kind, api.ErrInternal)
}

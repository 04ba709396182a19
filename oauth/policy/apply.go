package policy

import (
	"time"

	"context"
	"errors"
	"fmt"
	"github.com/accessd/accessd/oauth/credential"
	"slices"
	"strconv"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store"
)

// Directory is what apply asks of the directory besides the package
// rules it shares (group names, permissions, memberships): members by
// reference, and the permission index brought up to date after a commit.
type Directory interface {
	ResolveMember(tx *store.Tx, ref string) (store.Member, string, error)
	RefreshGroup(name string)
	RefreshSubject(id string)
}

// Applier applies policy files to the directory (platform data as code).
type Applier struct {
	st  txRunner
	dir Directory
	now func() time.Time
}

// txRunner runs a policy's changes as one transaction; *store.Store provides it.
type txRunner interface {
	Update(fn func(tx *store.Tx) error) error
}

var _ txRunner = (*store.Store)(nil)

// NewApplier returns the applier over st and dir; now nil means
// time.Now.
func NewApplier(st txRunner, dir Directory, now func() time.Time) *Applier {
	if now == nil {
		now = time.Now
	}
	return &Applier{st: st, dir: dir, now: now}
}

// Apply makes the groups a policy file names match it exactly (platform
// data as code): it creates them, sets descriptions, grants and revokes
// permissions and adds and removes members so that a second apply of the
// same file changes nothing. Groups the file does not name are left
// alone. The whole plan commits in one transaction, or nothing does; with
// dry it is only reported.
func (s *Applier) Apply(ctx context.Context, a change.Actor, data []byte, dry bool) (api.ApplyResult, error) {
	desired, err := Parse(data)
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
	var changes []Change
	touchedGroups := map[string][]api.Permission{}
	touchedSubjects := map[string][]string{}
	err = s.st.Update(func(tx *store.Tx) error {
		clear(touchedGroups)
		clear(touchedSubjects)
		current, err := s.policyState(tx, desired)
		if err != nil {
			return err
		}
		changes = Plan(desired, current)
		if dry || len(changes) == 0 {
			return nil
		}
		for _, c := range changes {
			if err := s.applyChange(tx, c, touchedGroups, touchedSubjects); err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
		}
		return tx.Audit().Stage(a.Entry(s.now(), "apply", "policy", "ok",
			map[string]string{"changes": strconv.Itoa(len(changes))}))
	})
	if err != nil {
		return api.ApplyResult{}, change.StoreErr("identity", "apply policy", err)
	}
	if !dry {
		for g := range touchedGroups {
			s.dir.RefreshGroup(g)
		}
		for id := range touchedSubjects {
			s.dir.RefreshSubject(id)
		}
	}
	out := api.ApplyResult{DryRun: dry, Changes: Strings(changes)}
	if out.Changes == nil {
		out.Changes = []string{}
	}
	return out, nil
}

// policyState reads the groups the policy names as they are now.
func (s *Applier) policyState(tx *store.Tx, desired Policy) ([]GroupState, error) {
	var out []GroupState
	for _, dg := range desired.Groups {
		g, err := tx.Groups().Get(dg.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st := GroupState{Name: g.Name, Description: g.Description, Permissions: directory.APIPerms(g.Permissions)}
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

func (s *Applier) applyChange(tx *store.Tx, c Change, groups map[string][]api.Permission, subjects map[string][]string) error {
	editGroup := func(fn func(*store.Group) error) error {
		g, err := tx.Groups().Update(c.Group, func(g store.Group) (store.Group, error) { return g, fn(&g) })
		if err == nil {
			groups[g.Name] = directory.APIPerms(g.Permissions)
		}
		return err
	}
	switch c.Kind {
	case CreateGroup:
		if err := directory.CheckGroupName(c.Group); err != nil {
			return err
		}
		_, err := tx.Groups().Create(store.Group{Name: c.Group, Description: c.Description})
		groups[c.Group] = nil
		return err
	case SetDescription:
		return editGroup(func(g *store.Group) error { g.Description = c.Description; return nil })
	case Grant, Revoke:
		p, err := directory.NormPermission(c.Permission)
		if c.Kind == Revoke {
			// A revoke names the permission as stored.
			p, err = store.Permission{Product: c.Permission.Product, Resource: c.Permission.Resource, Action: c.Permission.Action}, nil
		}
		if err != nil {
			return err
		}
		return editGroup(func(g *store.Group) error {
			g.Permissions = slices.DeleteFunc(g.Permissions, func(x store.Permission) bool { return x == p })
			if c.Kind == Grant {
				g.Permissions = append(g.Permissions, p)
			}
			return nil
		})
	case AddMember, RemoveMember:
		m, _, err := s.dir.ResolveMember(tx, c.Member)
		if err != nil {
			return err
		}
		gs, err := directory.SetMembership(tx, m, c.Group, c.Kind == AddMember)
		if err != nil {
			return err
		}
		subjects[m.ID] = gs
		return nil
	}
	return fmt.Errorf("identity: unknown change kind %q: %w", c.Kind, api.ErrInternal)
}

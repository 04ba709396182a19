package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
)

// DefaultGroups are the groups Lerian's Access Manager ships, so Midaz
// and the Console find the names they expect. Permissions are allow-only.
// identity-editor-group is the least-privilege role for managing
// identities over the data plane: users, groups, applications and
// passwords, nothing else, and so in product IdentityProduct only.
func DefaultGroups() []store.Group {
	midaz := func(actions ...string) []store.Permission {
		var ps []store.Permission
		for _, a := range actions {
			ps = append(ps, store.Permission{Product: "midaz", Resource: "*", Action: a})
		}
		return ps
	}
	var identityEditor []store.Permission
	for _, r := range []string{"applications", "groups", "users", "update-password", "reset-password"} {
		identityEditor = append(identityEditor, store.Permission{Product: IdentityProduct, Resource: r, Action: "*"})
	}
	return []store.Group{
		{Name: "admin-group", Description: "Administrators: every action on every resource", Permissions: []store.Permission{{Resource: "*", Action: "*"}}},
		{Name: "midaz-editor-group", Description: "Midaz editors", Permissions: midaz("get", "head", "post", "patch", "put", "delete")},
		{Name: "midaz-contributor-group", Description: "Midaz contributors", Permissions: midaz("get", "head", "post", "patch")},
		{Name: "midaz-viewer-group", Description: "Midaz viewers", Permissions: midaz("get", "head")},
		{Name: "identity-editor-group", Description: "Manage users, groups, applications and passwords", Permissions: identityEditor},
	}
}

// Bootstrap seeds a new store: the default groups and an "admin" user in
// admin-group with a generated password, returned once. It goes through
// the same rules and audit as every other change.
func (s *Service) Bootstrap(ctx context.Context) (adminID string, password []byte, err error) {
	for _, g := range DefaultGroups() {
		if _, err := s.groups.CreateGroup(ctx, change.System, api.CreateGroupRequest{Name: g.Name, Description: g.Description}); err != nil {
			return "", nil, fmt.Errorf("identity: bootstrap group %s: %w", g.Name, err)
		}
		for _, p := range g.Permissions {
			if _, err := s.groups.Grant(ctx, change.System, g.Name, api.Permission{Product: p.Product, Resource: p.Resource, Action: p.Action}); err != nil {
				return "", nil, fmt.Errorf("identity: bootstrap group %s: %w", g.Name, err)
			}
		}
	}
	u, err := s.users.CreateUser(ctx, change.System, api.CreateUserRequest{Username: "admin", Email: "admin@localhost.localdomain",
		FirstName: "Admin", Groups: []string{"admin-group"}})
	if err != nil {
		return "", nil, fmt.Errorf("identity: bootstrap admin user: %w", err)
	}
	return u.ID, []byte(u.Password), nil
}

// LoadIndex fills the permission index and the logout epochs from the
// store, at start: every group, then every user and application. After
// it, every change keeps the index current as it commits.
func (s *Service) LoadIndex() error {
	err := s.c.st.View(func(tx *store.Tx) error {
		groups, err := tx.Groups().List("", 0)
		if err != nil {
			return err
		}
		for _, g := range groups {
			s.c.index.SetGroup(g.Name, indexPerms(g.Permissions))
		}
		if err := tx.Users().Scan("", func(u store.User) (bool, error) {
			s.c.index.SetSubject(u.ID, u.Groups)
			if !u.LogoutAt.IsZero() || u.Disabled {
				s.c.epochs.set(u.ID, u.LogoutAt, u.LogoutKeep, u.Disabled)
			}
			return true, nil
		}); err != nil {
			return err
		}
		apps, err := tx.Applications().List("", 0)
		if err != nil {
			return err
		}
		for _, a := range apps {
			s.c.index.SetSubject(a.ID, a.Groups)
			if !a.LogoutAt.IsZero() {
				s.c.epochs.set(a.ID, a.LogoutAt, "", false)
			}
			s.c.clients.set(a)
		}
		return nil
	})
	if err != nil && !errors.Is(err, api.ErrInternal) {
		return fmt.Errorf("identity: load permission index: %w", err)
	}
	return err
}

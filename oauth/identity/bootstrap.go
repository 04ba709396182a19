package identity

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// DefaultGroups are the groups Lerian's Access Manager ships, so Midaz
// and the Console find the names they expect. Permissions are allow-only.
// identity-editor-group is the least-privilege role for managing
// identities over the data plane: users, groups, applications and
// passwords, nothing else.
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
		identityEditor = append(identityEditor, store.Permission{Resource: r, Action: "*"})
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
		if _, err := s.CreateGroup(ctx, System, api.CreateGroupRequest{Name: g.Name, Description: g.Description}); err != nil {
			return "", nil, fmt.Errorf("identity: bootstrap group %s: %w", g.Name, err)
		}
		for _, p := range g.Permissions {
			if _, err := s.Grant(ctx, System, g.Name, api.Permission{Product: p.Product, Resource: p.Resource, Action: p.Action}); err != nil {
				return "", nil, fmt.Errorf("identity: bootstrap group %s: %w", g.Name, err)
			}
		}
	}
	u, err := s.CreateUser(ctx, System, api.CreateUserRequest{Username: "admin", Email: "admin@localhost.localdomain",
		FirstName: "Admin", Groups: []string{"admin-group"}})
	if err != nil {
		return "", nil, fmt.Errorf("identity: bootstrap admin user: %w", err)
	}
	return u.ID, []byte(u.Password), nil
}

// LoadIndex fills the permission index and the logout epochs from the
// store, at start: every group, then every user and application. After
// it, every change keeps the index current as it commits.
//
// Users are scanned in loadRanges ID ranges by up to GOMAXPROCS
// goroutines, each range in its own read transaction: decoding a million
// user records is most of a start-up, and nothing writes users before the
// routes are served, so the snapshots agree.
func (s *Service) LoadIndex() error {
	err := s.st.View(func(tx *store.Tx) error {
		groups, err := tx.Groups().List("", 0)
		if err != nil {
			return err
		}
		for _, g := range groups {
			s.index.SetGroup(g.Name, apiPerms(g.Permissions))
		}
		return nil
	})
	if err == nil {
		err = s.loadUsers()
	}
	if err == nil {
		err = s.st.View(func(tx *store.Tx) error {
			apps, err := tx.Applications().List("", 0)
			if err != nil {
				return err
			}
			for _, a := range apps {
				s.index.SetSubject(a.ID, a.Groups)
			}
			return nil
		})
	}
	if err != nil && !errors.Is(err, api.ErrInternal) {
		return fmt.Errorf("identity: load permission index: %w", err)
	}
	return err
}

// loadRanges are the upper bounds of the ID ranges loadUsers scans in
// parallel: (-inf, "1"], ("1", "2"], … ("f", +inf). Record IDs are
// lower-case UUIDs, so the ranges are even; any other ID still falls in
// exactly one range.
var loadRanges = strings.Split("1 2 3 4 5 6 7 8 9 a b c d e f", " ")

func (s *Service) loadUsers() error {
	var next atomic.Int32
	var failed atomic.Bool
	errs := make([]error, len(loadRanges)+1)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(loadRanges)+1) {
		wg.Go(func() {
			for !failed.Load() {
				r := int(next.Add(1)) - 1
				if r > len(loadRanges) {
					return
				}
				after, upTo := "", ""
				if r > 0 {
					after = loadRanges[r-1]
				}
				if r < len(loadRanges) {
					upTo = loadRanges[r]
				}
				errs[r] = s.st.View(func(tx *store.Tx) error {
					return tx.Users().Scan(after, func(u store.User) (bool, error) {
						if upTo != "" && u.ID > upTo {
							return false, nil
						}
						s.index.SetSubject(u.ID, u.Groups)
						if !u.LogoutAt.IsZero() || u.Disabled {
							s.epochs.set(u.ID, u.LogoutAt, u.Disabled)
						}
						return !failed.Load(), nil
					})
				})
				if errs[r] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

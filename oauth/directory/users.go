package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// userView is the API's view of a user: never a credential.
func userView(u store.User, c store.Credential) api.User {
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	return api.User{ID: u.ID, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
		Email: u.Email, PhoneNumber: u.PhoneNumber, Groups: groups, Enabled: !u.Disabled, MFA: c.SecondFactor(),
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, MustChangePassword: c.MustChangePassword,
		TenantID: u.TenantID, TenantSlug: u.TenantSlug}
}

func checkName(what, v string) error {
	if len(v) > 128 {
		return invalid("%s is longer than 128 characters", what)
	}
	return credential.CheckText(what, v)
}

// checkGroupsExist fails when a named group does not exist, inside tx.
func checkGroupsExist(tx *store.Tx, groups []string) error {
	for _, g := range groups {
		if _, err := tx.Groups().Get(g); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("identity: group %q: %w (create it first, or check the name with `accessctl group list`)", g, api.ErrNotFound)
			}
			return err
		}
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func dedupe(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

// lookupUser finds a user by ID or by username, inside tx.
func (s *core) lookupUser(tx *store.Tx, idOrName string) (store.User, error) {
	name, err := credential.CanonicalUsername(idOrName)
	return byIDOrKey("user", idOrName, name, err == nil, tx.Users().Get, tx.Users().GetByUsername)
}

// byIDOrKey finds a record by its ID, else (when the reference can be
// one) by its other key: a username, a client ID. Neither found is the
// catalogue's not found, naming the reference.
func byIDOrKey[T any](what, ref, key string, keyOK bool, byID, byKey func(string) (T, error)) (T, error) {
	v, err := byID(ref)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return v, storeErr("get "+what, err)
	}
	if keyOK {
		v, err = byKey(key)
	}
	if !keyOK || errors.Is(err, store.ErrNotFound) {
		return v, hidden(what, ref)
	}
	return v, storeErr("get "+what, err)
}

// viewOf finds a record and renders it in one read transaction,
// mapping the store's errors onto the catalogue as what.
func viewOf[R, V any](st txRunner, what string, find func(*store.Tx) (R, error), render func(*store.Tx, R) (V, error)) (V, error) {
	var out V
	err := st.View(func(tx *store.Tx) error {
		r, err := find(tx)
		if err == nil {
			out, err = render(tx, r)
		}
		return err
	})
	return out, storeErr(what, err)
}

// userIn is a user's view with its credential's factors, inside tx.
func userIn(tx *store.Tx, u store.User) (api.User, error) {
	c, err := tx.Credentials().Get(u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return api.User{}, err
	}
	return userView(u, c), nil
}

// CreateUser makes a user. Without a password one is generated and
// returned once in CreatedUser.Password.
func (s *Users) CreateUser(ctx context.Context, a change.Actor, req api.CreateUserRequest) (api.CreatedUser, error) {
	var out api.CreatedUser
	if req.Username == "" {
		return out, missing("username")
	}
	name, err := credential.CanonicalUsername(req.Username)
	if err != nil {
		return out, err
	}
	if err := credential.CheckNewUsername(name); err != nil {
		return out, err
	}
	if err := credential.CheckEmail(req.Email); err != nil {
		return out, err
	}
	if err := credential.CheckPhoneNumber(req.PhoneNumber); err != nil {
		return out, err
	}
	if err := errors.Join(checkName("firstName", req.FirstName), checkName("lastName", req.LastName)); err != nil {
		return out, err
	}
	pw := []byte(req.Password)
	generated := false
	if len(pw) == 0 {
		if pw, err = credential.GeneratePassword(s.c.rand); err != nil {
			return out, err
		}
		generated = true
	} else if err := credential.DefaultPasswordPolicy().Check(pw, name, req.Email); err != nil {
		return out, err
	}
	defer clear(pw)
	hash, err := s.c.hasher.Hash(ctx, pw)
	if err != nil {
		return out, err
	}
	groups := dedupe(req.Groups)
	now := s.c.now().UTC()
	var u store.User
	var c store.Credential
	err = s.c.st.Update(func(tx *store.Tx) error {
		if err := checkGroupsExist(tx, groups); err != nil {
			return err
		}
		if err := s.tenants.checkGroupsVisible(tx, a, groups); err != nil {
			return err
		}
		if err := s.tenants.mayConferGroups(tx, a, groups); err != nil {
			return err
		}
		if err := checkNewUsername(tx, name); err != nil {
			return err
		}
		tid, tslug, err := s.tenants.newTenant(tx, a, req.TenantID, req.TenantSlug)
		if err != nil {
			return err
		}
		u, err = tx.Users().Create(store.User{Username: name, Email: req.Email, PhoneNumber: req.PhoneNumber, FirstName: req.FirstName,
			LastName: req.LastName, Groups: groups, CreatedAt: now, TenantID: tid, TenantSlug: tslug})
		if err != nil {
			if errors.Is(err, store.ErrExists) {
				return takenErr(name, req.Email, err)
			}
			return err
		}
		c, err = tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) {
			return store.Credential{ID: u.ID, PasswordHash: hash, PasswordChangedAt: now}, nil
		})
		if err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "user.create", "user:"+u.ID, "ok",
			map[string]string{"groups": strings.Join(groups, ","), "generatedPassword": fmt.Sprint(generated)}))
	})
	if err != nil {
		return out, storeErr("create user", err)
	}
	s.c.RefreshSubject(u.ID)
	out.User = userView(u, c)
	if generated {
		out.Password = string(pw)
	}
	return out, nil
}

// GetUser returns a user by ID or username.
func (s *Users) GetUser(idOrName string) (api.User, error) {
	return s.GetUserFor(change.System, idOrName)
}

// GetUserFor is GetUser for the caller a: another tenant's user is not
// found.
func (s *Users) GetUserFor(a change.Actor, idOrName string) (api.User, error) {
	return viewOf(s.c.st, "get user", func(tx *store.Tx) (store.User, error) { return s.tenants.lookupUserIn(tx, a, idOrName) }, userIn)
}

// ListUsers returns one page of users (1-based), optionally only the
// members of group or those with status "enabled" or "disabled".
func (s *Users) ListUsers(page, limit int, group, status string) (api.UserList, error) {
	return s.ListUsersFor(change.System, page, limit, group, status)
}

// Page bounds of every list: without a limit a page holds the first
// 1,000 entries; pages count from 1.
const (
	DefaultLimit = 1000
	MaxLimit     = 1000
	MaxPage      = 1_000_000
)

// ListUsersFor is ListUsers for the caller a: only its tenant's users.
func (s *Users) ListUsersFor(a change.Actor, page, limit int, group, status string) (api.UserList, error) {
	if page < 1 {
		page = 1
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		return api.UserList{}, fmt.Errorf("identity: %w: limit must be at most %d", api.ErrInvalidQuery, MaxLimit)
	}
	if status != "" && status != "enabled" && status != "disabled" {
		return api.UserList{}, fmt.Errorf("identity: %w: status must be \"enabled\" or \"disabled\"", api.ErrInvalidQuery)
	}
	if page > MaxPage {
		return api.UserList{}, fmt.Errorf("identity: %w: page must be at most %d", api.ErrInvalidQuery, MaxPage)
	}
	out := api.UserList{Items: []api.User{}, Page: page, Limit: limit}
	skip := (page - 1) * limit
	var sc scope
	keep := func(u store.User) bool {
		if !sc.sees(u.TenantID) {
			return false
		}
		if status == "enabled" && u.Disabled || status == "disabled" && !u.Disabled {
			return false
		}
		return group == "" || slices.Contains(u.Groups, group)
	}
	err := s.c.st.View(func(tx *store.Tx) error {
		var err error
		if sc, err = s.tenants.scopeOf(tx, a); err != nil {
			return err
		}
		add := func(u store.User) (bool, error) {
			if !keep(u) {
				return true, nil
			}
			if skip > 0 {
				skip--
				return true, nil
			}
			if len(out.Items) == limit {
				out.More = true
				return false, nil
			}
			c, err := tx.Credentials().Get(u.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			out.Items = append(out.Items, userView(u, c))
			return true, nil
		}
		if group != "" {
			// The member index: no scan of every user.
			members, err := tx.Groups().Members(group)
			if err != nil {
				return err
			}
			for _, m := range members {
				if m.Kind != store.MemberUser {
					continue
				}
				u, err := tx.Users().Get(m.ID)
				if err != nil {
					return err
				}
				if more, err := add(u); err != nil || !more {
					return err
				}
			}
			return nil
		}
		return tx.Users().Scan("", add)
	})
	return out, storeErr("list users", err)
}

// UpdateUser applies a PATCH: nil fields are left alone. Moving the
// address or number of an enabled e-mail or SMS factor is guarded and
// turns that factor off (mayRedirectFactors, resetMovedFactors).
func (s *Users) UpdateUser(ctx context.Context, a change.Actor, idOrName string, req api.UpdateUserRequest) (api.User, error) {
	var out api.User
	if req.FirstName != nil {
		if err := checkName("firstName", *req.FirstName); err != nil {
			return out, err
		}
	}
	if req.LastName != nil {
		if err := checkName("lastName", *req.LastName); err != nil {
			return out, err
		}
	}
	if req.Email != nil {
		if err := credential.CheckEmail(*req.Email); err != nil {
			return out, err
		}
	}
	if req.PhoneNumber != nil {
		if err := credential.CheckPhoneNumber(*req.PhoneNumber); err != nil {
			return out, err
		}
	}
	if (req.TenantID != nil || req.TenantSlug != nil) && !a.Admin {
		return out, errTenantAdminOnly
	}
	if req.TenantID != nil {
		if err := checkTenant(*req.TenantID, deref(req.TenantSlug)); err != nil {
			return out, err
		}
	} else if req.TenantSlug != nil {
		return out, invalid("send tenantSlug with its tenantId")
	}
	redirect, err := s.login.MayRedirectFactors(ctx, a, idOrName, req)
	if err != nil {
		return out, err
	}
	var u store.User
	var c store.Credential
	err = s.c.st.Update(func(tx *store.Tx) error {
		cur, err := s.tenants.lookupUserIn(tx, a, idOrName)
		if err != nil {
			return err
		}
		if err := s.tenants.MayActOn(a, cur.ID); err != nil {
			return err
		}
		if err := s.login.ResetMovedFactors(tx, a, cur, req, redirect); err != nil {
			return err
		}
		var changed []string
		if req.Groups != nil {
			if err := checkGroupsExist(tx, dedupe(*req.Groups)); err != nil {
				return err
			}
			if err := s.tenants.checkGroupsVisible(tx, a, dedupe(*req.Groups)); err != nil {
				return err
			}
			if err := s.tenants.mayConferGroups(tx, a, dedupe(*req.Groups)); err != nil {
				return err
			}
			changed = append(changed, "groups")
		}
		resolve, err := s.resolveShared(tx, cur, req.Email)
		if err != nil {
			return err
		}
		u, err = tx.Users().Update(cur.ID, func(u store.User) (store.User, error) {
			if req.FirstName != nil {
				u.FirstName = *req.FirstName
				changed = append(changed, "firstName")
			}
			if req.LastName != nil {
				u.LastName = *req.LastName
				changed = append(changed, "lastName")
			}
			if req.Email != nil {
				u.Email = *req.Email
				changed = append(changed, "email")
			}
			if resolve {
				u.EmailShared = false // the store claims the address, or refuses
			}
			if req.PhoneNumber != nil {
				u.PhoneNumber = *req.PhoneNumber
				changed = append(changed, "phoneNumber")
			}
			if req.Groups != nil {
				u.Groups = dedupe(*req.Groups)
			}
			if req.TenantID != nil {
				u.TenantID, u.TenantSlug = *req.TenantID, deref(req.TenantSlug)
				changed = append(changed, "tenant")
			}
			return u, nil
		})
		if err != nil {
			if errors.Is(err, store.ErrExists) {
				return takenErr(cur.Username, deref(req.Email), err)
			}
			return err
		}
		if c, err = tx.Credentials().Get(u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "user.update", "user:"+u.ID, "ok",
			map[string]string{"fields": strings.Join(dedupe(changed), ","), "groups": strings.Join(u.Groups, ",")}))
	})
	if err != nil {
		return out, storeErr("update user", err)
	}
	s.c.RefreshSubject(u.ID)
	return userView(u, c), nil
}

// endSessions revokes every refresh family of a subject after the
// change that moved its epoch has committed, a batch per transaction:
// a user may hold thousands of families, more than one transaction takes.
// Forced logout does not wait for it: the epoch (LogoutAt, or the subject
// gone) already refuses every token and every refresh family issued
// before it (the refresh grant checks the family's creation against the
// epoch); revoking the families only cleans up. store.RefreshFamily's
// Subject is the user's or application's record ID.
func (s *core) endSessions(id string) int {
	n, after := 0, ""
	for {
		k, next, err := s.st.RefreshFamilies().RevokeSubjectAfter(id, after, memberBatch)
		n += k
		if err != nil {
			s.log.Warn("refresh families not all revoked; the epoch refuses them anyway", "event", "identity.revoke_error", "subject", id, "err", err)
			return n
		}
		if next == "" {
			return n
		}
		after = next
	}
}

// endOtherSessions moves user id's epoch, sparing only the session a
// acts in when it is the user's own (a bearer's refresh family): every
// other access token, refresh family and open MFA challenge of the user
// stops at once (the refresh grant and the challenge check the epoch).
// From the admin socket, or without a session, every session ends and
// the families are revoked too. typ is the audit entry's type.
func (s *core) endOtherSessions(a change.Actor, id, typ string) error {
	keep := ""
	if !a.Admin && a.SubjectID == id && a.Session != nil {
		keep = a.Session.ID
	}
	// Tokens carry whole seconds and the epoch refuses its own second
	// (TokenValid), which would refuse a sign-in right after the change:
	// the epoch is the end of the second before, so what began in the
	// change's own second goes on.
	epoch := s.now().UTC().Truncate(time.Second).Add(-time.Nanosecond)
	err := s.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Users().Update(id, func(u store.User) (store.User, error) {
			u.LogoutAt, u.LogoutKeep = epoch, keep
			return u, nil
		}); err != nil {
			return err
		}
		detail := map[string]string{"kept": "none"}
		if keep != "" {
			detail["kept"] = "the caller's session"
		}
		return tx.Audit().Stage(s.entry(a, typ, "user:"+id, "ok", detail))
	})
	if err != nil {
		return storeErr("end other sessions", err)
	}
	s.RefreshSubject(id)
	if keep == "" {
		s.endSessions(id)
	}
	return nil
}

// DeleteUser removes a user, their credentials, login state and sessions
// in one transaction; tokens they hold stop passing at once (the subject
// is gone from the index).
func (s *Users) DeleteUser(ctx context.Context, a change.Actor, idOrName string) error {
	var id string
	err := s.c.st.Update(func(tx *store.Tx) error {
		u, err := s.tenants.lookupUserIn(tx, a, idOrName)
		if err != nil {
			return err
		}
		if err := s.tenants.MayActOn(a, u.ID); err != nil {
			return err
		}
		id = u.ID
		if err := tx.Users().Delete(id); err != nil {
			return err
		}
		if err := tx.Credentials().Delete(id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.Logins().Delete(id); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "user.delete", "user:"+id, "ok", nil))
	})
	if err != nil {
		return storeErr("delete user", err)
	}
	s.c.RefreshSubject(id)
	s.c.endSessions(id)
	return nil
}

// editUser applies edit to a user the actor may act on and stages the
// audit entry typ, in one transaction, then refreshes the index and
// epochs: the common shape of disable, enable and forced logout.
func (s *Users) editUser(a change.Actor, idOrName, typ string, edit func(*store.User)) (store.User, store.Credential, error) {
	var u store.User
	var c store.Credential
	err := s.c.st.Update(func(tx *store.Tx) error {
		cur, err := s.tenants.lookupUserIn(tx, a, idOrName)
		if err != nil {
			return err
		}
		if err := s.tenants.MayActOn(a, cur.ID); err != nil {
			return err
		}
		if u, err = tx.Users().Update(cur.ID, func(u store.User) (store.User, error) { edit(&u); return u, nil }); err != nil {
			return err
		}
		if c, err = tx.Credentials().Get(u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, typ, "user:"+u.ID, "ok", nil))
	})
	if err != nil {
		return u, c, storeErr(strings.ReplaceAll(typ, ".", " "), err)
	}
	s.c.RefreshSubject(u.ID)
	return u, c, nil
}

// SetUserEnabled enables or disables a user. Disabling also ends every
// session, like a forced logout.
func (s *Users) SetUserEnabled(ctx context.Context, a change.Actor, idOrName string, enabled bool) (api.User, error) {
	now := s.c.now().UTC()
	typ := "user.enable"
	if !enabled {
		typ = "user.disable"
	}
	u, c, err := s.editUser(a, idOrName, typ, func(u *store.User) {
		u.Disabled = !enabled
		if !enabled {
			u.LogoutAt, u.LogoutKeep = now, ""
		}
	})
	if err != nil {
		return api.User{}, err
	}
	if !enabled {
		s.c.endSessions(u.ID)
	}
	return userView(u, c), nil
}

// Logout is a forced logout: the user's epoch moves in one transaction
// with its audit entry, so access tokens issued before it stop passing
// decisions at once; then every refresh family is revoked (endSessions).
func (s *Users) Logout(ctx context.Context, a change.Actor, idOrName string) error {
	now := s.c.now().UTC()
	u, _, err := s.editUser(a, idOrName, "user.logout", func(u *store.User) { u.LogoutAt, u.LogoutKeep = now, "" })
	if err != nil {
		return err
	}
	s.c.endSessions(u.ID)
	return nil
}

// ResetPassword sets a user's password for them (a helpdesk reset). With
// newPassword empty a one-time password is generated and returned once;
// it must be changed (UpdatePassword) before it is good for anything
// else. Every session ends. On the data plane, resetting one's own
// password needs a step-up.
func (s *Users) ResetPassword(ctx context.Context, a change.Actor, idOrName string, newPassword []byte) (generated []byte, err error) {
	u, err := s.GetUserFor(a, idOrName)
	if err != nil {
		return nil, err
	}
	if err := s.tenants.MayActOn(a, u.ID); err != nil {
		return nil, err
	}
	if !a.Admin && a.SubjectID == u.ID {
		// A stolen access token must not set its holder's password; the
		// user changes their own with update-password, which asks for
		// the old one.
		if err := s.login.StepUp(ctx, a, "reset your own password (change it with PATCH /v1/users/{id}/update-password, which asks for the old one)"); err != nil {
			return nil, err
		}
	}
	pw := newPassword
	oneTime := len(pw) == 0
	if oneTime {
		if pw, err = credential.GeneratePassword(s.c.rand); err != nil {
			return nil, err
		}
	} else if err := credential.DefaultPasswordPolicy().Check(pw, u.Username, u.Email); err != nil {
		return nil, err
	}
	hash, err := s.c.hasher.Hash(ctx, pw)
	if err != nil {
		clear(pw)
		return nil, err
	}
	now := s.c.now().UTC()
	err = s.c.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			c.ID, c.PasswordHash, c.PasswordChangedAt, c.MustChangePassword = u.ID, hash, now, oneTime
			return c, nil
		}); err != nil {
			return err
		}
		if _, err := tx.Logins().Put(u.ID, func(l store.LoginState) (store.LoginState, error) {
			l.FailedLogins, l.LockedUntil = 0, time.Time{}
			return l, nil
		}); err != nil {
			return err
		}
		if _, err := tx.Users().Update(u.ID, func(u store.User) (store.User, error) {
			u.LogoutAt, u.LogoutKeep = now, ""
			return u, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "user.reset_password", "user:"+u.ID, "ok",
			map[string]string{"oneTime": fmt.Sprint(oneTime)}))
	})
	if err != nil {
		if oneTime {
			clear(pw)
		}
		return nil, storeErr("reset password", err)
	}
	s.c.RefreshSubject(u.ID)
	s.c.endSessions(u.ID)
	if oneTime {
		return pw, nil
	}
	return nil, nil
}

// UpdatePassword is a user changing their own password: the old one is
// verified like a sign-in (a failure counts toward lockout), the new one
// must pass the policy and differ from the old.
func (s *Users) UpdatePassword(ctx context.Context, a change.Actor, idOrName string, oldPassword, newPassword []byte) error {
	if len(oldPassword) == 0 || len(newPassword) == 0 {
		return missing("oldPassword", "newPassword")
	}
	u, err := s.GetUserFor(a, idOrName)
	if err != nil {
		return err
	}
	if err := s.login.CheckPassword(ctx, a, u.ID, oldPassword); err != nil {
		return err
	}
	if string(oldPassword) == string(newPassword) {
		return fmt.Errorf("identity: %w: the new password must differ from the old one", api.ErrWeakPassword)
	}
	if err := credential.DefaultPasswordPolicy().Check(newPassword, u.Username, u.Email); err != nil {
		return err
	}
	hash, err := s.c.hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	now := s.c.now().UTC()
	err = s.c.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			c.ID, c.PasswordHash, c.PasswordChangedAt, c.MustChangePassword = u.ID, hash, now, false
			return c, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "user.update_password", "user:"+u.ID, "ok", nil))
	})
	if err != nil {
		return storeErr("update password", err)
	}
	// Every other session (tokens, refresh families) and any open MFA
	// challenge opened with the old password stop at once; the caller's
	// own session goes on.
	return s.c.endOtherSessions(a, u.ID, "user.sessions_ended")
}

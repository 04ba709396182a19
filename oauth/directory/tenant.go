package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Tenancy, for multi-tenant Midaz. Users, groups and applications may
// belong to one tenant (TenantID, with an optional TenantSlug), set and
// changed only on the admin socket. On the data plane a bearer whose
// user or application has a tenant sees and manages only that tenant's
// users, groups and applications: lists leave the others out, and
// reading, changing or deleting one of them answers 404, as for a record
// that does not exist; what it creates is put in its tenant. Groups
// without a tenant are the shared role catalogue (the seeded groups):
// every tenant sees them and may put its own members in them, but only
// the admin socket or a bearer without a tenant changes them. A bearer
// without a tenant (single-tenant deployments) sees everything. The
// caller's tenant is read from its record on each request, not from its
// token, so moving a subject to another tenant takes effect at once.

// scope is what a caller may see: every record, or one tenant's.
type scope struct {
	all    bool
	tenant string
}

// sees reports whether a record of tenant t is the caller's to see and
// manage.
func (sc scope) sees(t string) bool { return sc.all || t == sc.tenant }

// seesGroup reports whether a group of tenant t is visible: the caller's
// tenant's, or shared.
func (sc scope) seesGroup(t string) bool { return sc.sees(t) || t == "" }

// scopeOf returns the caller's scope: everything on the admin socket and
// for a bearer without a tenant, else its tenant. A bearer whose record
// is gone sees nothing.
func (s *Tenants) scopeOf(tx *store.Tx, a change.Actor) (scope, error) {
	if a.Admin {
		return scope{all: true}, nil
	}
	if u, err := tx.Users().Get(a.SubjectID); err == nil {
		return scope{all: u.TenantID == "", tenant: u.TenantID}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return scope{}, err
	}
	if ap, err := tx.Applications().Get(a.SubjectID); err == nil {
		return scope{all: ap.TenantID == "", tenant: ap.TenantID}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return scope{}, err
	}
	return scope{tenant: "\x00gone"}, nil
}

// scopeFor is scopeOf in a read transaction of its own.
func (s *Tenants) scopeFor(a change.Actor) (scope, error) {
	var sc scope
	err := s.c.st.View(func(tx *store.Tx) error {
		var err error
		sc, err = s.scopeOf(tx, a)
		return err
	})
	return sc, err
}

// hidden is the answer for a record in another tenant: exactly that of
// a record that does not exist.
func hidden(kind, ref string) error {
	return fmt.Errorf("identity: %s %q: %w", kind, ref, api.ErrNotFound)
}

// lookupUserIn is lookupUser for the caller a: another tenant's user is
// not found.
func (s *Tenants) lookupUserIn(tx *store.Tx, a change.Actor, idOrName string) (store.User, error) {
	return seen(s, tx, a, "user", idOrName, s.c.lookupUser, func(u store.User) string { return u.TenantID })
}

// LookupAppIn is lookupApp for the caller a.
func (s *Tenants) LookupAppIn(tx *store.Tx, a change.Actor, idOrClientID string) (store.Application, error) {
	return seen(s, tx, a, "application", idOrClientID, s.c.lookupApp, func(ap store.Application) string { return ap.TenantID })
}

// seen finds a record with find and hides it, as not found, unless the
// caller's scope sees its tenant.
func seen[T any](s *Tenants, tx *store.Tx, a change.Actor, kind, ref string, find func(*store.Tx, string) (T, error), tenant func(T) string) (T, error) {
	var none T
	v, err := find(tx, ref)
	if err != nil {
		return v, err
	}
	sc, err := s.scopeOf(tx, a)
	if err != nil {
		return none, err
	}
	if !sc.sees(tenant(v)) {
		return none, hidden(kind, ref)
	}
	return v, nil
}

// groupIn reads a group the caller a may see; with manage, one it may
// also change (not a shared group, unless a sees everything).
func (s *Tenants) groupIn(tx *store.Tx, a change.Actor, name string, manage bool) (store.Group, error) {
	g, err := tx.Groups().Get(name)
	if err != nil {
		return g, err
	}
	if err := s.groupVisible(tx, a, g, manage); err != nil {
		return store.Group{}, err
	}
	return g, nil
}

// groupVisible is groupIn's check of a group already read in tx.
func (s *Tenants) groupVisible(tx *store.Tx, a change.Actor, g store.Group, manage bool) error {
	sc, err := s.scopeOf(tx, a)
	if err != nil {
		return err
	}
	switch {
	case !sc.seesGroup(g.TenantID):
		return hidden("group", g.Name)
	case manage && !sc.sees(g.TenantID):
		return fmt.Errorf("identity: group %q: %w: it is shared by every tenant; it is changed on the admin socket (accessctl group …)", g.Name, api.ErrForbidden)
	}
	return nil
}

// checkGroupsVisible fails with 404 for a group the caller a cannot see.
func (s *Tenants) checkGroupsVisible(tx *store.Tx, a change.Actor, groups []string) error {
	for _, g := range groups {
		if _, err := s.groupIn(tx, a, g, false); err != nil {
			return err
		}
	}
	return nil
}

// newTenant is the tenant of a record the caller a creates: the one the
// request names, which only the admin socket may do, else the caller's.
func (s *Tenants) newTenant(tx *store.Tx, a change.Actor, id, slug string) (string, string, error) {
	if id != "" || slug != "" {
		if !a.Admin {
			return "", "", errTenantAdminOnly
		}
		return id, slug, checkTenant(id, slug)
	}
	if a.Admin {
		return "", "", nil
	}
	sc, err := s.scopeOf(tx, a)
	if err != nil || sc.all {
		return "", "", err
	}
	return sc.tenant, s.tenantSlug(tx, a), nil
}

// tenantSlug is the slug of the caller's own record.
func (s *Tenants) tenantSlug(tx *store.Tx, a change.Actor) string {
	if u, err := tx.Users().Get(a.SubjectID); err == nil {
		return u.TenantSlug
	}
	if ap, err := tx.Applications().Get(a.SubjectID); err == nil {
		return ap.TenantSlug
	}
	return ""
}

var errTenantAdminOnly = fmt.Errorf("identity: %w: tenantId and tenantSlug are set only on the admin socket (accessctl … --tenant ID[:SLUG])", api.ErrForbidden)

// checkTenant accepts an empty tenant (none), or an ID of 1 to 64
// characters A-Z a-z 0-9 . _ - (Lerian's tenant IDs are UUIDs) with an
// optional slug of up to 64 characters a-z 0-9 -.
func checkTenant(id, slug string) error {
	if id == "" {
		if slug != "" {
			return invalid("tenantSlug needs a tenantId")
		}
		return nil
	}
	if len(id) > 64 {
		return invalid("tenantId is longer than 64 characters")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !credential.IsLowerAlnum(c) && !('A' <= c && c <= 'Z') && c != '.' && c != '_' && c != '-' {
			return invalid("tenantId may contain only letters, digits and . _ -")
		}
	}
	if len(slug) > 64 {
		return invalid("tenantSlug is longer than 64 characters")
	}
	for i := 0; i < len(slug); i++ {
		if c := slug[i]; !credential.IsLowerAlnum(c) && c != '-' {
			return invalid("tenantSlug may contain only letters a-z, digits and -")
		}
	}
	return nil
}

// memberVisible fails with 404 when the member m (named ref) is another
// tenant's user or application.
func (s *Tenants) memberVisible(tx *store.Tx, a change.Actor, m store.Member, ref string) error {
	var err error
	switch m.Kind {
	case store.MemberUser:
		_, err = s.lookupUserIn(tx, a, m.ID)
	case store.MemberApp:
		_, err = s.LookupAppIn(tx, a, m.ID)
	}
	if errors.Is(err, api.ErrNotFound) {
		return hidden("member", ref)
	}
	return err
}

// SetGroupTenant moves a group to a tenant, or out of any with an empty
// TenantID: on the admin socket only.
func (s *Tenants) SetGroupTenant(ctx context.Context, a change.Actor, name string, req api.TenantRequest) (api.Group, error) {
	if !a.Admin {
		return api.Group{}, errTenantAdminOnly
	}
	if err := checkTenant(req.TenantID, req.TenantSlug); err != nil {
		return api.Group{}, err
	}
	var g store.Group
	err := s.c.st.Update(func(tx *store.Tx) error {
		var err error
		g, err = tx.Groups().Update(name, func(g store.Group) (store.Group, error) {
			g.TenantID, g.TenantSlug = req.TenantID, req.TenantSlug
			return g, nil
		})
		if err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "group.set_tenant", "group:"+name, "ok",
			map[string]string{"tenantId": req.TenantID, "tenantSlug": req.TenantSlug}))
	})
	if err != nil {
		return api.Group{}, storeErr(fmt.Sprintf("group %q", name), err)
	}
	return groupView(g), nil
}

// SetApplicationTenant moves an application to a tenant, or out of any
// with an empty TenantID: on the admin socket only.
func (s *Tenants) SetApplicationTenant(ctx context.Context, a change.Actor, idOrClientID string, req api.TenantRequest) (api.Application, error) {
	if !a.Admin {
		return api.Application{}, errTenantAdminOnly
	}
	if err := checkTenant(req.TenantID, req.TenantSlug); err != nil {
		return api.Application{}, err
	}
	var out api.Application
	var id string
	err := s.c.st.Update(func(tx *store.Tx) error {
		cur, err := s.c.lookupApp(tx, idOrClientID)
		if err != nil {
			return err
		}
		id = cur.ID
		ap, err := tx.Applications().Update(cur.ID, func(ap store.Application) (store.Application, error) {
			ap.TenantID, ap.TenantSlug = req.TenantID, req.TenantSlug
			return ap, nil
		})
		if err != nil {
			return err
		}
		if out, err = appIn(tx, ap, s.c.now()); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "app.set_tenant", "app:"+ap.ClientID, "ok",
			map[string]string{"tenantId": req.TenantID, "tenantSlug": req.TenantSlug}))
	})
	if err != nil {
		return api.Application{}, storeErr("set application tenant", err)
	}
	s.c.RefreshSubject(id)
	return out, nil
}

// SharedConfig refuses a change to configuration every tenant shares
// (what, e.g. "delivery providers": the relays and gateways every
// tenant's sign-in codes go through) to a data-plane bearer with a
// tenant, so that no tenant can redirect another's codes.
func (s *Tenants) SharedConfig(a change.Actor, what string) error {
	if a.Admin {
		return nil
	}
	sc, err := s.scopeFor(a)
	if err != nil {
		return storeErr("caller's tenant", err)
	}
	if !sc.all {
		return fmt.Errorf("identity: %w: %s are shared by every tenant; only the admin socket (accessctl) or a bearer without a tenant changes them", api.ErrForbidden, what)
	}
	return nil
}

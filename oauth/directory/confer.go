package directory

import (
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
)

// Nobody on the data plane can give what they do not hold. A bearer with
// the identity editor's permissions manages users, groups and
// applications, but may not grant a permission, put a subject in a
// group, or act on (reset, disable, delete, rotate) a subject whose
// permissions reach beyond the caller's own: otherwise the
// least-privilege role would be one request away from admin (add itself
// to admin-group, grant itself *:*, reset the admin's password). The
// admin socket, where the peer check is the authorization, is not
// limited.

func (s *Tenants) holds(a change.Actor, p store.Permission) bool {
	return a.Admin || (a.SubjectID != "" && s.c.index.Allowed(a.SubjectID, p.Product, p.Resource, p.Action))
}

// mayConfer fails unless a holds every permission in perms.
func (s *Tenants) mayConfer(a change.Actor, perms []store.Permission) error {
	for _, p := range perms {
		if !s.holds(a, p) {
			return fmt.Errorf("identity: %w: %s cannot confer %s, which it does not hold itself", api.ErrForbidden, a.Name, permString(p))
		}
	}
	return nil
}

// mayConferGroups fails unless a holds every permission of the groups.
func (s *Tenants) mayConferGroups(tx *store.Tx, a change.Actor, groups []string) error {
	if a.Admin {
		return nil
	}
	for _, name := range groups {
		g, err := tx.Groups().Get(name)
		if err != nil {
			continue // a missing group grants nothing; checkGroupsExist reports it
		}
		if err := s.mayConfer(a, g.Permissions); err != nil {
			return fmt.Errorf("%w (group %q)", err, name)
		}
	}
	return nil
}

// MayActOn fails unless a holds every permission of the subject with
// record ID id (or is that subject).
func (s *Tenants) MayActOn(a change.Actor, id string) error {
	if a.Admin || a.SubjectID == id {
		return nil
	}
	for _, p := range s.c.index.Effective(id) {
		sp := store.Permission{Product: p.Product, Resource: p.Resource, Action: p.Action}
		if !s.holds(a, sp) {
			return fmt.Errorf("identity: %w: %s cannot act on a subject that holds %s, which it does not hold itself", api.ErrForbidden, a.Name, permString(sp))
		}
	}
	return nil
}

func permString(p store.Permission) string {
	r := p.Resource
	if p.Product != "" {
		r = p.Product + "/" + r
	}
	return r + ":" + p.Action
}

package store

import "time"

// Group is a named set of permissions; membership lives on the user and
// application records (their Groups lists), so a group stays small and
// renaming members never rewrites it. Name is the group's ID.
type Group struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	UpdatedAt   time.Time    `json:"updatedAt"`
	Version     uint64       `json:"version"`
}

// Permission is one allow rule: Action on Resource, optionally scoped to
// a Product ("" = any); "*" is a wildcard, interpreted by oauth/authz.
type Permission struct {
	Product  string `json:"product,omitempty"`
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

func groupTable(s *Store) *table[Group] {
	return &table[Group]{
		s: s, name: "group", prefix: []byte("group/"),
		id:      func(g *Group) string { return g.Name },
		version: func(g *Group) *uint64 { return &g.Version },
		indexes: func(*Group) [][]byte { return nil },
		create: func(g *Group, now time.Time) error {
			if g.CreatedAt.IsZero() {
				g.CreatedAt = now
			}
			g.UpdatedAt = now
			return nil
		},
		update: func(_, g *Group, now time.Time) error {
			g.UpdatedAt = now
			return nil
		},
	}
}

// GroupRepo stores groups by name.
type GroupRepo struct{ t *table[Group] }

// Create stores a new group; ErrExists when the name is taken.
func (r *GroupRepo) Create(g Group) (Group, error) { return r.t.doCreate(g) }

// Get returns the named group, or ErrNotFound.
func (r *GroupRepo) Get(name string) (Group, error) { return r.t.doGet(name) }

// Update has UserRepo.Update's contract; the name cannot change (create
// the new group and delete the old one instead, after moving members).
func (r *GroupRepo) Update(name string, fn func(old Group) (Group, error)) (Group, error) {
	return r.t.doUpdate(name, fn)
}

// Delete removes a group; members keep the stale name in their Groups
// until the Identity layer rewrites them.
func (r *GroupRepo) Delete(name string) error { return r.t.doDelete(name) }

// List returns up to limit groups (all when limit <= 0) named after the
// cursor, in name order.
func (r *GroupRepo) List(after string, limit int) ([]Group, error) { return r.t.doList(after, limit) }

// Count returns the number of groups.
func (r *GroupRepo) Count() (int, error) { return r.t.doCount() }

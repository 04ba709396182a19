package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Group is a named set of permissions; membership lives on the user and
// application records (their Groups lists), so a group stays small and
// renaming members never rewrites it, and an index (group -> members)
// kept in the same transaction as those records lists a group's members
// without a scan. Name is the group's ID.
type Group struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	UpdatedAt   time.Time    `json:"updatedAt"`
	Version     uint64       `json:"version"`

	// TenantID and TenantSlug: the group's tenant; empty means shared by
	// every tenant.
	TenantID   string `json:"tenantId,omitempty"`
	TenantSlug string `json:"tenantSlug,omitempty"`
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
type GroupRepo struct {
	t *table[Group]
	x exec
}

// Create stores a new group; ErrExists when the name is taken.
func (r *GroupRepo) Create(g Group) (Group, error) { return r.t.doCreate(r.x, g) }

// Get returns the named group, or ErrNotFound.
func (r *GroupRepo) Get(name string) (Group, error) { return r.t.doGet(r.x, name) }

// Update has UserRepo.Update's contract; the name cannot change (create
// the new group and delete the old one instead, after moving members).
func (r *GroupRepo) Update(name string, fn func(old Group) (Group, error)) (Group, error) {
	return r.t.doUpdate(r.x, name, fn)
}

// Delete removes a group; members keep the stale name in their Groups
// until the Identity layer rewrites them (in the same Tx, using Members).
func (r *GroupRepo) Delete(name string) error { return r.t.doDelete(r.x, name) }

// List returns up to limit groups (all when limit <= 0) named after the
// cursor, in name order.
func (r *GroupRepo) List(after string, limit int) ([]Group, error) {
	return r.t.doList(r.x, after, limit)
}

// Count returns the number of groups.
func (r *GroupRepo) Count() (int, error) { return r.t.doCount(r.x) }

// Member is one member of a group, from the member index.
type Member struct {
	Kind string // MemberUser or MemberApp
	ID   string
}

// Members lists a group's members (users and applications whose Groups
// name it), in kind and ID order, from the member index: no scan of the
// users. The group record itself need not exist.
func (r *GroupRepo) Members(name string) ([]Member, error) {
	var out []Member
	err := r.x.view(func(txn *badger.Txn) error {
		out = nil
		opts := badger.DefaultIteratorOptions
		opts.Prefix = memberPrefix(name)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			owner, err := r.t.s.keys.mac.value(it.Item())
			if err != nil {
				return err
			}
			rest := string(it.Item().Key()[len(opts.Prefix):])
			kind, id, ok := strings.Cut(rest, "\x00")
			if !ok || id != string(owner) {
				return fmt.Errorf("member index entry of group %q: %w", name, ErrCorrupt)
			}
			out = append(out, Member{Kind: kind, ID: id})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: members of group %q: %w", name, err)
	}
	return out, nil
}

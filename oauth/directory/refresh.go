package directory

import (
	"errors"
	"hash/fnv"
	"sync"

	"github.com/accessd/accessd/store"
)

// The permission index and the logout epochs are a copy of the store
// that decisions read without touching it. A change updates them after
// its commit by re-reading the record it changed, under one lock: so two
// changes of one subject that commit in one order and return in the
// other still leave the copy as the store is (the last refresh reads a
// state at least as new as both commits), and a delete cannot be undone
// by a late update. A refresh that cannot read leaves the previous copy
// and logs; the next change or restart repairs it.

// The lock is striped by subject or group, so that refreshes of
// different subjects (each a store read) run side by side; only
// refreshes of one subject are ordered, which is all correctness needs.
const refreshStripes = 64

func (s *core) stripe(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &s.memMu[h.Sum32()%refreshStripes]
}

// RefreshSubject brings a user's or application's index entry (and a
// user's epoch) up to date with the store.
func (s *core) RefreshSubject(id string) {
	if id == "" {
		return
	}
	mu := s.stripe("s:" + id)
	mu.Lock()
	defer mu.Unlock()
	u, err := s.st.Users().Get(id)
	if err == nil {
		s.index.SetSubject(u.ID, u.Groups)
		s.epochs.set(u.ID, u.LogoutAt, u.LogoutKeep, u.Disabled)
		return
	}
	if !errors.Is(err, store.ErrNotFound) {
		s.log.Error("permission index not refreshed", "event", "identity.refresh_error", "subject", id, "err", err)
		return
	}
	a, err := s.st.Applications().Get(id)
	switch {
	case err == nil:
		s.index.SetSubject(a.ID, a.Groups)
		s.epochs.set(a.ID, a.LogoutAt, "", false)
		s.clients.set(a)
	case errors.Is(err, store.ErrNotFound):
		s.index.DeleteSubject(id)
		s.epochs.forget(id)
		s.clients.forget(id)
	default:
		s.log.Error("permission index not refreshed", "event", "identity.refresh_error", "subject", id, "err", err)
	}
}

// RefreshGroup brings a group's permissions in the index up to date.
func (s *core) RefreshGroup(name string) {
	mu := s.stripe("g:" + name)
	mu.Lock()
	defer mu.Unlock()
	g, err := s.st.Groups().Get(name)
	switch {
	case err == nil:
		s.index.SetGroup(g.Name, indexPerms(g.Permissions))
	case errors.Is(err, store.ErrNotFound):
		s.index.DeleteGroup(name)
	default:
		s.log.Error("permission index not refreshed", "event", "identity.refresh_error", "group", name, "err", err)
	}
}

// RefreshGroup is the core's RefreshGroup: the groups' room is the
// directory oauth/policy applies through (policy.Directory).
func (s *Groups) RefreshGroup(name string) { s.c.RefreshGroup(name) }

// RefreshSubject is the core's RefreshSubject, for oauth/policy as
// RefreshGroup.
func (s *Groups) RefreshSubject(id string) { s.c.RefreshSubject(id) }

package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// phc is a fixed argon2id PHC string; the store only stores it.
const phc = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$5Wl0cVgyUEk5cWFxcUhkM2dPRlVwZ2ZRZ3JrY2VqYQ"

func checkUsers(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	users := st.Users()

	created, err := users.Create(store.User{
		Username: "alice", Email: "alice@example.test", FirstName: "Alice",
		Groups: []string{"admins"},
	})
	must(t, "create", err)
	require.NotEmpty(t, created.ID, "create did not assign id, version and times: %+v", created)
	require.Equal(t, uint64(1), created.Version, "create did not assign id, version and times: %+v", created)
	require.False(t, created.CreatedAt.IsZero(), "create did not assign id, version and times: %+v", created)
	require.False(t, created.UpdatedAt.IsZero(), "create did not assign id, version and times: %+v", created)

	got, err := users.Get(created.ID)
	must(t, "get", err)
	require.Equal(t, "alice", got.Username, "get returned %+v", got)
	require.Equal(t, "alice@example.test", got.Email, "get returned %+v", got)
	require.Equal(t, []string{"admins"}, got.Groups, "get returned %+v", got)
	require.Equal(t, uint64(1), got.Version, "get returned %+v", got)
	byName, err := users.GetByUsername("alice")
	must(t, "get by username", err)
	require.Equal(t, created.ID, byName.ID, "get by username: id")
	// The store compares usernames byte for byte; canonicalising them is
	// oauth/directory's rule.
	for _, name := range []string{"Alice", "ALICE", "alice "} {
		_, err := users.GetByUsername(name)
		mustErr(t, "get by non-canonical username "+name, err, store.ErrNotFound)
	}

	updated, err := users.Update(created.ID, func(u store.User) (store.User, error) {
		u.Email = "alice.smith@example.test"
		u.Username = "alice.smith" // rename moves the index
		return u, nil
	})
	must(t, "update", err)
	require.Equal(t, uint64(2), updated.Version, "update returned %+v", updated)
	require.Equal(t, "alice.smith@example.test", updated.Email, "update returned %+v", updated)
	_, err = users.GetByUsername("alice")
	mustErr(t, "old username after rename", err, store.ErrNotFound)
	byNew, err := users.GetByUsername("alice.smith")
	must(t, "new username after rename", err)
	require.Equal(t, created.ID, byNew.ID, "new username resolves to %+v", byNew)
	require.Equal(t, uint64(2), byNew.Version, "new username resolves to %+v", byNew)
	// The released name is free for someone else.
	other, err := users.Create(store.User{Username: "alice"})
	must(t, "reuse of a renamed-away username", err)

	n, err := users.Count()
	must(t, "count", err)
	require.Equal(t, 2, n, "count")

	must(t, "delete", users.Delete(created.ID))
	_, err = users.Get(created.ID)
	mustErr(t, "get after delete", err, store.ErrNotFound)
	_, err = users.GetByUsername("alice.smith")
	mustErr(t, "username after delete", err, store.ErrNotFound)
	_, err = users.Create(store.User{Username: "alice.smith"})
	must(t, "reuse of a deleted user's username", err)
	_, err = users.Get(other.ID)
	require.NoError(t, err, "unrelated user vanished")
}

func checkUserErrors(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	users := st.Users()
	bob, err := users.Create(store.User{Username: "bob"})
	must(t, "create bob", err)
	carol, err := users.Create(store.User{Username: "carol"})
	must(t, "create carol", err)
	errFn := errors.New("caller refused")

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"duplicate username", func() error { _, err := users.Create(store.User{Username: "bob"}); return err }, store.ErrExists},
		{"duplicate id", func() error { _, err := users.Create(store.User{ID: bob.ID, Username: "dave"}); return err }, store.ErrExists},
		{"empty username", func() error { _, err := users.Create(store.User{}); return err }, store.ErrInvalid},
		{"NUL in username", func() error { _, err := users.Create(store.User{Username: "a\x00b"}); return err }, store.ErrInvalid},
		{"NUL in group", func() error {
			_, err := users.Create(store.User{Username: "erin", Groups: []string{"g\x00x"}})
			return err
		}, store.ErrInvalid},
		{"empty group", func() error { _, err := users.Create(store.User{Username: "erin", Groups: []string{""}}); return err }, store.ErrInvalid},
		{"get missing", func() error { _, err := users.Get("nope"); return err }, store.ErrNotFound},
		{"get by missing username", func() error { _, err := users.GetByUsername("nope"); return err }, store.ErrNotFound},
		{"delete missing", func() error { return users.Delete("nope") }, store.ErrNotFound},
		{"update missing", func() error {
			_, err := users.Update("nope", func(u store.User) (store.User, error) { return u, nil })
			return err
		}, store.ErrNotFound},
		{"rename onto taken username", func() error {
			_, err := users.Update(carol.ID, func(u store.User) (store.User, error) { u.Username = "bob"; return u, nil })
			return err
		}, store.ErrExists},
		{"stale version", func() error {
			stale := bob // Version 1; bump the stored one first
			if _, err := users.Update(bob.ID, func(u store.User) (store.User, error) { u.Email = "b@x.test"; return u, nil }); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err := users.Update(bob.ID, func(store.User) (store.User, error) { stale.Disabled = true; return stale, nil })
			return err
		}, store.ErrConflict},
		{"id change", func() error {
			_, err := users.Update(bob.ID, func(u store.User) (store.User, error) { u.ID = "other"; return u, nil })
			return err
		}, store.ErrInvalid},
		{"callback error", func() error {
			_, err := users.Update(bob.ID, func(u store.User) (store.User, error) { return u, errFn })
			return err
		}, errFn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustErr(t, tc.name, tc.do(), tc.want) })
	}

	// None of the failures above may have changed carol or bob's name.
	c, err := users.GetByUsername("carol")
	must(t, "carol after failed rename", err)
	require.Equal(t, uint64(1), c.Version, "failed rename bumped carol to version %d", c.Version)
	b, err := users.Get(bob.ID)
	must(t, "bob after failures", err)
	require.False(t, b.Disabled, "stale update leaked into bob: %+v", b)
	require.Equal(t, uint64(2), b.Version, "stale update leaked into bob: %+v", b)
	// Another spelling is another username to the store.
	_, err = users.Create(store.User{Username: "BoB"})
	must(t, "username differing in case only", err)
}

func checkPaging(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	users := st.Users()
	var want []string
	for i := range 25 {
		u, err := users.Create(store.User{Username: fmt.Sprintf("user%02d", i)})
		must(t, "create", err)
		want = append(want, u.ID)
	}
	slices.Sort(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := users.List(after, 10)
		must(t, "list", err)
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, pages, 3, "paging does not end")
		for _, u := range page {
			got = append(got, u.ID)
		}
		after = page[len(page)-1].ID
	}
	require.Equal(t, want, got, "paged ids = %v, want %v", got, want)
	all, err := users.List("", 0)
	must(t, "list all", err)
	require.Len(t, all, 25, "list all returned %d users, want 25", len(all))
	var scanned []string
	must(t, "scan", users.Scan(want[9], func(u store.User) (bool, error) {
		scanned = append(scanned, u.ID)
		return len(scanned) < 5, nil
	}))
	require.Equal(t, want[10:15], scanned, "scan after the 10th = %v, want %v", scanned, want[10:15])
}

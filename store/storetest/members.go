package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// memberIndex: a group's members follow the Groups lists of users and
// applications through create, update and delete, inside a transaction
// too.
func checkMemberIndex(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	members := func(group string) []store.Member {
		t.Helper()
		m, err := st.Groups().Members(group)
		must(t, "members of "+group, err)
		return m
	}
	u, err := st.Users().Create(store.User{Username: "u", Groups: []string{"a", "b"}})
	must(t, "create user", err)
	app, err := st.Applications().Create(store.Application{Name: "app", ClientID: "cid", Groups: []string{"a"}})
	must(t, "create app", err)
	uM, appM := store.Member{Kind: store.MemberUser, ID: u.ID}, store.Member{Kind: store.MemberApp, ID: app.ID}

	type step struct {
		name string
		do   func() error
		want map[string][]store.Member
	}
	steps := []step{
		{"created", func() error { return nil },
			map[string][]store.Member{"a": {appM, uM}, "b": {uM}, "c": nil}},
		{"user moves from a to c", func() error {
			_, err := st.Users().Update(u.ID, func(x store.User) (store.User, error) { x.Groups = []string{"b", "c"}; return x, nil })
			return err
		}, map[string][]store.Member{"a": {appM}, "b": {uM}, "c": {uM}}},
		{"user rename keeps membership", func() error {
			_, err := st.Users().Update(u.ID, func(x store.User) (store.User, error) { x.Username = "u2"; return x, nil })
			return err
		}, map[string][]store.Member{"a": {appM}, "b": {uM}, "c": {uM}}},
		{"app leaves a, joins b", func() error {
			_, err := st.Applications().Update(app.ID, func(x store.Application) (store.Application, error) {
				x.Groups = []string{"b"}
				return x, nil
			})
			return err
		}, map[string][]store.Member{"a": nil, "b": {appM, uM}, "c": {uM}}},
		{"aborted transaction changes nothing", func() error {
			return ignore(st.Update(func(tx *store.Tx) error {
				if _, err := tx.Users().Update(u.ID, func(x store.User) (store.User, error) { x.Groups = nil; return x, nil }); err != nil {
					return err
				}
				m, err := tx.Groups().Members("b")
				if err != nil {
					return err
				}
				if !slices.Equal(m, []store.Member{appM}) {
					return fmt.Errorf("inside the transaction members of b = %+v", m)
				}
				return errAbort
			}), errAbort)
		}, map[string][]store.Member{"a": nil, "b": {appM, uM}, "c": {uM}}},
		{"user deleted", func() error { return st.Users().Delete(u.ID) },
			map[string][]store.Member{"a": nil, "b": {appM}, "c": nil}},
		{"app deleted", func() error { return st.Applications().Delete(app.ID) },
			map[string][]store.Member{"a": nil, "b": nil, "c": nil}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			must(t, s.name, s.do())
			for g, want := range s.want {
				got := members(g)
				require.True(t, slices.Equal(got, want), "members of %s = %+v, want %+v", g, got, want)
			}
		})
	}
	// Group names that share a prefix do not share members.
	_, err = st.Users().Create(store.User{Username: "p", Groups: []string{"ab"}})
	must(t, "create user in ab", err)
	got := members("a")
	require.Empty(t, got, "members of a include those of ab: %+v", got)
}

// memberIndexLarge: a group of 1000 members (users and applications)
// lists them all, sorted by kind and then ID.
func checkMemberIndexLarge(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	const users, apps, perTx = 900, 100, 100
	var want []store.Member
	for b := 0; b < users; b += perTx {
		err := st.Update(func(tx *store.Tx) error {
			for i := b; i < b+perTx; i++ {
				u, err := tx.Users().Create(store.User{Username: fmt.Sprintf("m%04d", i), Groups: []string{"big", "other"}})
				if err != nil {
					return err
				}
				want = append(want, store.Member{Kind: store.MemberUser, ID: u.ID})
			}
			return nil
		})
		must(t, "create users", err)
	}
	err := st.Update(func(tx *store.Tx) error {
		for i := range apps {
			a, err := tx.Applications().Create(store.Application{Name: "a", ClientID: fmt.Sprintf("c%04d", i), Groups: []string{"big"}})
			if err != nil {
				return err
			}
			want = append(want, store.Member{Kind: store.MemberApp, ID: a.ID})
		}
		return nil
	})
	must(t, "create apps", err)
	slices.SortFunc(want, func(a, b store.Member) int {
		return strings.Compare(a.Kind+"\x00"+a.ID, b.Kind+"\x00"+b.ID)
	})
	got, err := st.Groups().Members("big")
	must(t, "members", err)
	require.Len(t, got, users+apps, "members of big = %d, want %d", len(got), users+apps)
	require.Equal(t, want, got, "members of big are not every member, sorted by kind then ID")
	require.Equal(t, store.MemberApp, got[0].Kind, "first %+v, last %+v: want applications before users", got[0], got[len(got)-1])
	require.Equal(t, store.MemberUser, got[len(got)-1].Kind, "first %+v, last %+v: want applications before users", got[0], got[len(got)-1])
	other, err := st.Groups().Members("other")
	must(t, "members of other", err)
	require.Len(t, other, users, "members of other = %d, want %d", len(other), users)
}

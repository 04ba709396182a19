package store

import (
	"encoding/json"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

// v3Group writes a group as layouts 1-3 stored it.
func v3Group(t *testing.T, s *Store, txn *badger.Txn, name string, perms []Permission) {
	t.Helper()
	b, err := json.Marshal(Group{Name: name, Permissions: perms, CreatedAt: v1Time, UpdatedAt: v1Time, Version: 3})
	require.NoError(t, err)
	require.NoError(t, s.keys.mac.put(txn, groupTable(s).key(name), b))
}

// TestMigrateIdentityGrantsV3: layout 4 moves identity-editor-group's
// seeded grants (no product, a seeded resource, action "*") into product
// "identity", leaves the grants an operator added and every other group
// alone, and a second run changes nothing.
func TestMigrateIdentityGrantsV3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var seeded []Permission
	for _, r := range seededIdentityResources {
		seeded = append(seeded, Permission{Resource: r, Action: "*"})
	}
	added := []Permission{{Resource: "providers", Action: "*"}, {Resource: "users", Action: "get"}, {Product: "midaz", Resource: "users", Action: "*"}}
	other := []Permission{{Resource: "users", Action: "*"}}
	func() {
		s, err := Open(dir, goldenRoot, Options{})
		require.NoError(t, err)
		defer s.Close()
		err = s.eng.DB().Update(func(txn *badger.Txn) error {
			v3Group(t, s, txn, seededIdentityGroup, append(append([]Permission{}, seeded...), added...))
			v3Group(t, s, txn, "helpdesk", other)
			return s.keys.mac.putUint64(txn, metaFormat, 3)
		})
		require.NoError(t, err)
	}()
	var calls []migrateCall
	s := openRecording(t, dir, &calls)
	require.Len(t, calls, 1, "BeforeMigrate calls = %+v, want one from 3", calls)
	require.Equal(t, 3, calls[0].from, "BeforeMigrate calls = %+v, want one from 3", calls)
	require.Equal(t, uint64(formatVersion), layout(t, s), "layout")
	var want []Permission
	for _, r := range seededIdentityResources {
		want = append(want, Permission{Product: "identity", Resource: r, Action: "*"})
	}
	want = append(want, added...)
	check := func() {
		t.Helper()
		g, err := s.Groups().Get(seededIdentityGroup)
		require.NoError(t, err)
		require.Equal(t, want, g.Permissions, "identity-editor-group after the migration")
		require.Equal(t, uint64(4), g.Version, "identity-editor-group after the migration")
		h, err := s.Groups().Get("helpdesk")
		require.NoError(t, err)
		require.Equal(t, other, h.Permissions, "another group's grants are the operator's")
	}
	check()
	before := dump(t, s)
	require.NoError(t, (migration{s}).migrateIdentityGrantsV3())
	check()
	require.Equal(t, before, dump(t, s), "a second run of the migration changed the store")
	require.NoError(t, s.Close())
}

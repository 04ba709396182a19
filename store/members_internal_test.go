package store

import (
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/internal/barrier"
)

// TestMemberIndexTampered: a member index entry that fails its MAC, or
// whose MAC-valid value does not match its key, is ErrCorrupt rather
// than a member.
func TestMemberIndexTampered(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), goldenRoot, Options{})
	require.NoError(t, err)
	defer s.Close()
	u, err := s.Users().Create(User{Username: "m", Groups: []string{"g"}})
	require.NoError(t, err)
	key := memberKey("g", MemberUser, u.ID)
	stored := rawGet(t, s, key)
	macPut := func(k, v []byte) []byte { return s.keys.mac.r.Seal(k, v) }
	tests := []struct {
		name       string
		key, value []byte
	}{
		{"flipped value", key, flipAt(stored, 0)},
		{"flipped tag", key, flipAt(stored, len(stored)-1)},
		{"tag stripped", key, stored[:len(stored)-barrier.RecordTagLen]},
		{"value of another key", key, rawGet(t, s, usernameKey("m"))},
		{"valid MAC, other member", key, macPut(key, []byte("someone-else"))},
		{"valid MAC, no kind separator", append(memberPrefix("g"), "user"+u.ID...), macPut(append(memberPrefix("g"), "user"+u.ID...), []byte(u.ID))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig, had := func() ([]byte, bool) {
				var out []byte
				err := s.eng.DB().View(func(txn *badger.Txn) error {
					item, err := txn.Get(tc.key)
					if err != nil {
						return err
					}
					out, err = item.ValueCopy(nil)
					return err
				})
				return out, err == nil
			}()
			defer func() {
				if had {
					rawSet(t, s, tc.key, orig)
				} else {
					require.NoError(t, s.eng.DB().Update(func(txn *badger.Txn) error { return txn.Delete(tc.key) }))
				}
			}()
			rawSet(t, s, tc.key, tc.value)
			_, err := s.Groups().Members("g")
			require.ErrorIs(t, err, ErrCorrupt, "members after tampering: %v, want ErrCorrupt", err)
		})
	}
	m, err := s.Groups().Members("g")
	require.NoError(t, err, "members after restore")
	require.Len(t, m, 1, "members after restore: %+v", m)
	require.Equal(t, u.ID, m[0].ID, "members after restore: %+v", m)
}

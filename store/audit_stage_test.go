package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// TestStageNeedsAnAuditClock: a store opened without Options.Audit (to
// read, verify or back up) refuses to stage an audit entry, and the
// change it came with, instead of ordering it on a clock of its own; its
// other writes go on.
func TestStageNeedsAnAuditClock(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.TempDir(), testRoot, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	err = st.Update(func(tx *store.Tx) error {
		if _, err := tx.Users().Create(store.User{Username: "audited"}); err != nil {
			return err
		}
		return tx.Audit().Stage(store.AuditEntry{Type: "user.create"})
	})
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "Options.Audit")
	_, err = st.Users().GetByUsername("audited")
	require.ErrorIs(t, err, store.ErrNotFound, "the change committed without its entry")
	p, err := st.AuditLog().Pending(0, 0)
	require.NoError(t, err)
	require.Empty(t, p)
	_, err = st.Users().Create(store.User{Username: "unaudited"})
	require.NoError(t, err)
}

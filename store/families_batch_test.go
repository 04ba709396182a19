package store_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/storetest"
)

// TestRevokeSubjectInBatches: a subject's families are revoked a batch
// at a time, each batch continuing after the last family the previous
// one saw, until every family is revoked and the cursor says done; other
// subjects' families are left alone.
func TestRevokeSubjectInBatches(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	require.NoError(t, st.Update(func(tx *store.Tx) error {
		for i := range 5 {
			for _, sub := range []string{"alice", "bob"} {
				if _, err := tx.RefreshFamilies().Create(store.RefreshFamily{Subject: sub, ClientID: "c", CurrentHash: []byte(fmt.Sprintf("%s%d", sub, i))}); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	var counts []int
	after := ""
	for {
		n, next, err := st.RefreshFamilies().RevokeSubjectAfter("alice", after, 2)
		require.NoError(t, err)
		counts = append(counts, n)
		if next == "" {
			break
		}
		require.Greater(t, next, after, "the cursor moves forward")
		after = next
	}
	require.Equal(t, []int{2, 2, 1}, counts)
	for sub, revoked := range map[string]bool{"alice": true, "bob": false} {
		fams, err := st.RefreshFamilies().ListBySubject(sub)
		require.NoError(t, err)
		require.Len(t, fams, 5)
		for _, f := range fams {
			require.Equal(t, revoked, f.Revoked, "%s's family %s", sub, f.ID)
		}
	}
	n, next, err := st.RefreshFamilies().RevokeSubjectAfter("alice", "", 2)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to revoke")
	require.Empty(t, next)
}

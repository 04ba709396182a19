package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// AuditChain opens a store whose audit log holds n verified entries one
// second apart from 2025-05-01, every field set, and returns it with the
// entries as chained. The entries are staged in one transaction and
// chained by one Sync: two commits, whatever n.
func AuditChain(t testing.TB, n int) (*store.Store, []store.AuditEntry) {
	t.Helper()
	st := Open(t)
	log, err := audit.Open(st, Queue(t, st), audit.Options{})
	require.NoError(t, err)
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, st.Update(func(tx *store.Tx) error {
		for i := range n {
			err := tx.Audit().Stage(store.AuditEntry{
				Time: at.Add(time.Duration(i) * time.Second), Type: "user.update", Actor: "uid:0",
				Target: "user:" + strconv.Itoa(i), Result: "ok", Source: "admin-socket",
				Detail: map[string]string{"field": "email", "n": strconv.Itoa(i)},
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, log.Sync())
	require.NoError(t, log.Close())
	all, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	require.Len(t, all, n)
	res, err := audit.Verify(st)
	require.NoError(t, err)
	require.True(t, res.OK, "fresh chain does not verify: %+v", res)
	return st, all
}

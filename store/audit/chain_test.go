package audit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

// TestAppendOnlyNextSequence: only the next sequence number can be
// chained, so a second writer loses instead of forking the log.
func TestAppendOnlyNextSequence(t *testing.T) {
	t.Parallel()
	st, all := storetest.AuditChain(t, 5)
	for _, tc := range []struct {
		name string
		seq  uint64
	}{
		{"taken sequence", 3},
		{"repeat of last", 5},
		{"gap", 7},
		{"zero", 0},
	} {
		assert.ErrorIs(t, audit.AppendForTest(st, []store.AuditEntry{{Seq: tc.seq, Type: "x"}}), store.ErrConflict, tc.name)
	}
	require.NoError(t, audit.AppendForTest(st, nil), "chain nothing")
	res, err := audit.Verify(st)
	require.NoError(t, err)
	assert.True(t, res.OK, "verify: %+v", res)
	assert.Equal(t, uint64(5), res.Entries)
	assert.Equal(t, all[4].Hash, res.Head)
}

// TestCheckpointRules: a checkpoint that does not describe the chain in
// the store is refused, and only what a checkpoint covers is deleted.
func TestCheckpointRules(t *testing.T) {
	t.Parallel()
	const n = 6
	tests := []struct {
		name string
		edit func(cp *audit.Checkpoint, all []store.AuditEntry)
	}{
		{"at the head", func(cp *audit.Checkpoint, all []store.AuditEntry) { cp.Seq, cp.Hash = n, all[n-1].Hash }},
		{"past the head", func(cp *audit.Checkpoint, _ []store.AuditEntry) { cp.Seq = n + 1 }},
		{"hash not the entry's", func(cp *audit.Checkpoint, all []store.AuditEntry) { cp.Hash = all[0].Hash }},
		{"not starting at entry 1", func(cp *audit.Checkpoint, _ []store.AuditEntry) { cp.FirstSeq = 2 }},
		{"first previous-hash not empty", func(cp *audit.Checkpoint, all []store.AuditEntry) { cp.FirstPrev = all[0].Hash }},
		{"before its start", func(cp *audit.Checkpoint, _ []store.AuditEntry) { cp.Seq, cp.Hash = 0, nil }},
	}
	st, all := storetest.AuditChain(t, n)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := audit.Checkpoint{Seq: 3, Hash: all[2].Hash, FirstSeq: 1, Time: time.Now(), Archive: "a", Entries: 3}
			tc.edit(&cp, all)
			require.ErrorIs(t, audit.SetCheckpointForTest(st, cp), store.ErrInvalid, "set checkpoint")
			d, err := audit.DeleteArchivedForTest(st, 0)
			require.NoError(t, err)
			assert.Zero(t, d, "deleted without a checkpoint")
		})
	}
	cp := audit.Checkpoint{Seq: 3, Hash: all[2].Hash, FirstSeq: 1, Archive: "a", Entries: 3}
	require.NoError(t, audit.SetCheckpointForTest(st, cp))
	for _, want := range []int{2, 1, 0} {
		d, err := audit.DeleteArchivedForTest(st, 2)
		require.NoError(t, err)
		require.Equal(t, want, d, "deleted")
	}
	rest, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	require.Len(t, rest, n-3)
	assert.Equal(t, uint64(4), rest[0].Seq)
	back := audit.Checkpoint{Seq: 2, Hash: all[1].Hash, FirstSeq: 4, FirstPrev: all[2].Hash}
	require.ErrorIs(t, audit.SetCheckpointForTest(st, back), store.ErrInvalid, "a checkpoint moving back")
}

// TestChainKeyspaceOnly: the store's transaction for the audit log
// reaches no key outside it.
func TestChainKeyspaceOnly(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	err := st.AuditLog().Update(func(tx *store.AuditTxn) error { return tx.Put([]byte("user/x"), []byte("{}")) })
	require.ErrorIs(t, err, store.ErrInvalid)
	err = st.AuditLog().View(func(tx *store.AuditTxn) error { _, err := tx.Get([]byte("meta/format")); return err })
	require.ErrorIs(t, err, store.ErrInvalid)
}

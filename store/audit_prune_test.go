package store_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

// pruned returns a chain of n entries one second apart whose first k
// were archived into dir, and the checkpoint.
func pruned(t *testing.T, n, k int) (*store.Store, []store.AuditEntry, audit.Checkpoint, string) {
	t.Helper()
	st, all := storetest.AuditChain(t, n)
	l, err := audit.Open(st, storetest.Queue(t, st), audit.Options{})
	require.NoError(t, err)
	defer l.Close()
	dir := t.TempDir()
	res, err := l.Prune(context.Background(), all[k].Time, dir)
	require.NoError(t, err)
	require.NotNil(t, res.Checkpoint, "prune = %+v", res)
	require.EqualValues(t, k, res.Checkpoint.Seq, "prune's checkpoint")
	return st, all, *res.Checkpoint, dir
}

// TestAuditVerifyFromCheckpoint: after a prune, Verify starts at the
// checkpoint, and catches what an insider (with the root key, or
// without) could do to the checkpoint or the entries that follow it.
func TestAuditVerifyFromCheckpoint(t *testing.T) {
	t.Parallel()
	const n, k = 10, 5
	tests := []struct {
		name    string
		tamper  func(st *store.Store, all []store.AuditEntry, cp audit.Checkpoint) error
		broken  uint64 // 0: the chain must verify
		problem string // part of Verify's message
	}{
		{"untouched", nil, 0, ""},
		{"an archived entry left behind by a stopped prune", func(st *store.Store, all []store.AuditEntry, _ audit.Checkpoint) error {
			return store.AuditPutForTest(st, k, all[k-1])
		}, 0, ""},
		{"checkpoint hash edited with a valid MAC", func(st *store.Store, _ []store.AuditEntry, cp audit.Checkpoint) error {
			cp.Hash = bytes.Repeat([]byte{7}, 32)
			return store.AuditCheckpointPutForTest(st, cp)
		}, k + 1, "does not follow the checkpoint"},
		{"first entry after the checkpoint deleted", func(st *store.Store, _ []store.AuditEntry, _ audit.Checkpoint) error {
			return store.AuditDeleteForTest(st, k+1)
		}, k + 1, "the first after the checkpoint"},
		{"first entry after the checkpoint edited", func(st *store.Store, all []store.AuditEntry, _ audit.Checkpoint) error {
			e := all[k]
			e.Result = "denied"
			return store.AuditPutForTest(st, e.Seq, e)
		}, k + 1, "altered"},
		{"checkpoint moved back over archived entries", func(st *store.Store, all []store.AuditEntry, cp audit.Checkpoint) error {
			cp.Seq, cp.Hash = k-2, all[k-3].Hash
			return store.AuditCheckpointPutForTest(st, cp)
		}, k - 1, "the first after the checkpoint"},
		{"checkpoint moved past the head", func(st *store.Store, _ []store.AuditEntry, cp audit.Checkpoint) error {
			cp.Seq = n + 5
			return store.AuditCheckpointPutForTest(st, cp)
		}, n + 6, "no entry follows the checkpoint"},
		{"checkpoint removed", func(st *store.Store, _ []store.AuditEntry, _ audit.Checkpoint) error {
			return store.AuditCheckpointDeleteForTest(st)
		}, 1, "entry 1 is missing"},
		{"checkpoint byte flipped without the MAC key", func(st *store.Store, _ []store.AuditEntry, _ audit.Checkpoint) error {
			return store.AuditCheckpointFlipForTest(st, 3)
		}, 1, "checkpoint failed the store's integrity check"},
		{"tail cut after the checkpoint", func(st *store.Store, _ []store.AuditEntry, _ audit.Checkpoint) error {
			return store.AuditDeleteForTest(st, n)
		}, n, "removed from the end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, all, cp, dir := pruned(t, n, k)
			if tc.tamper != nil {
				require.NoError(t, tc.tamper(st, all, cp))
			}
			res, err := audit.Verify(st)
			require.NoError(t, err, "verify")
			if tc.broken == 0 {
				require.True(t, res.OK, "verify = %+v", res)
				require.EqualValues(t, n, res.Entries, "verify = %+v", res)
				require.EqualValues(t, n-k, res.Checked, "verify = %+v", res)
				require.NotNil(t, res.Checkpoint, "verify = %+v", res)
				require.EqualValues(t, k, res.Checkpoint.Seq, "verify = %+v", res)
				require.NoError(t, audit.VerifyArchive(filepath.Join(dir, cp.Archive), *res.Checkpoint))
				return
			}
			require.False(t, res.OK, "verify = %+v", res)
			require.EqualValues(t, tc.broken, res.FirstBroken, "verify = %+v", res)
			require.Contains(t, res.Problem, tc.problem)
			t.Logf("entry %d: %s", res.FirstBroken, res.Problem)
		})
	}
}

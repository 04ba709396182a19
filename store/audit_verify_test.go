package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

func mustBreakAt(t *testing.T, st *store.Store, seq uint64) {
	t.Helper()
	res, err := audit.Verify(st)
	require.NoError(t, err, "verify")
	require.False(t, res.OK, "verify = %+v", res)
	require.Equal(t, seq, res.FirstBroken, "verify = %+v", res)
	require.NotEmpty(t, res.Problem)
	t.Logf("entry %d: %s", seq, res.Problem)
}

// TestAuditVerifyDetects: what audit.Verify must catch, made by someone
// who can write the store (with the root key, so record MACs are valid,
// or without it).
func TestAuditVerifyDetects(t *testing.T) {
	t.Parallel()
	const n = 8
	tests := []struct {
		name   string
		tamper func(st *store.Store, all []store.AuditEntry) error
		broken uint64
	}{
		{"content edited with a valid MAC", func(st *store.Store, all []store.AuditEntry) error {
			e := all[4]
			e.Result = "denied"
			return store.AuditPutForTest(st, e.Seq, e)
		}, 5},
		{"content and hash edited with a valid MAC", func(st *store.Store, all []store.AuditEntry) error {
			e := all[4]
			e.Actor = "uid:1000"
			h, err := audit.Hash(e)
			e.Hash = h
			if err != nil {
				return err
			}
			return store.AuditPutForTest(st, e.Seq, e)
		}, 6},
		{"entry removed from the middle", func(st *store.Store, _ []store.AuditEntry) error {
			return store.AuditDeleteForTest(st, 4)
		}, 4},
		{"entry removed and the rest renumbered", func(st *store.Store, all []store.AuditEntry) error {
			for i := 3; i < n-1; i++ {
				e := all[i+1]
				e.Seq = uint64(i + 1)
				if err := store.AuditPutForTest(st, e.Seq, e); err != nil {
					return err
				}
			}
			return store.AuditDeleteForTest(st, n)
		}, 4},
		{"two entries swapped", func(st *store.Store, all []store.AuditEntry) error {
			if err := store.AuditPutForTest(st, 3, all[5]); err != nil {
				return err
			}
			return store.AuditPutForTest(st, 6, all[2])
		}, 3},
		{"two entries swapped and renumbered", func(st *store.Store, all []store.AuditEntry) error {
			a, b := all[2], all[5]
			a.Seq, b.Seq = b.Seq, a.Seq
			if err := store.AuditPutForTest(st, a.Seq, a); err != nil {
				return err
			}
			return store.AuditPutForTest(st, b.Seq, b)
		}, 3},
		{"tail cut", func(st *store.Store, _ []store.AuditEntry) error {
			for seq := uint64(n - 2); seq <= n; seq++ {
				if err := store.AuditDeleteForTest(st, seq); err != nil {
					return err
				}
			}
			return nil
		}, n - 2},
		{"last entry cut", func(st *store.Store, _ []store.AuditEntry) error {
			return store.AuditDeleteForTest(st, n)
		}, n},
		{"byte flipped without the MAC key", func(st *store.Store, _ []store.AuditEntry) error {
			return store.AuditFlipForTest(st, 5, 10)
		}, 5},
		{"MAC flipped without the MAC key", func(st *store.Store, _ []store.AuditEntry) error {
			size, err := store.AuditRawLenForTest(st, 2)
			if err != nil {
				return err
			}
			return store.AuditFlipForTest(st, 2, size-1)
		}, 2},
		{"first entry edited", func(st *store.Store, all []store.AuditEntry) error {
			e := all[0]
			e.Type = "user.delete"
			return store.AuditPutForTest(st, 1, e)
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, all := storetest.AuditChain(t, n)
			require.NoError(t, tc.tamper(st, all))
			mustBreakAt(t, st, tc.broken)
		})
	}
}

// TestAuditVerifyFlipEverything: for every entry of a chain and every
// field of it, an altered value (written with a valid record MAC) makes
// Verify name exactly that entry, and putting it back makes it pass.
func TestAuditVerifyFlipEverything(t *testing.T) {
	t.Parallel()
	const n = 20
	st, all := storetest.AuditChain(t, n)
	fields := []struct {
		name  string
		alter func(e *store.AuditEntry)
	}{
		{"Type", func(e *store.AuditEntry) { e.Type += "x" }},
		{"Actor", func(e *store.AuditEntry) { e.Actor = "uid:1" }},
		{"Target", func(e *store.AuditEntry) { e.Target += "0" }},
		{"Result", func(e *store.AuditEntry) { e.Result = "failed" }},
		{"Source", func(e *store.AuditEntry) { e.Source = "10.0.0.1" }},
		{"Time", func(e *store.AuditEntry) { e.Time = e.Time.Add(time.Nanosecond) }},
		{"Detail value", func(e *store.AuditEntry) { e.Detail = map[string]string{"field": "password", "n": e.Detail["n"]} }},
		{"Detail added", func(e *store.AuditEntry) {
			e.Detail = map[string]string{"field": e.Detail["field"], "n": e.Detail["n"], "x": ""}
		}},
		{"Detail removed", func(e *store.AuditEntry) { e.Detail = map[string]string{"n": e.Detail["n"]} }},
		{"PrevHash", func(e *store.AuditEntry) { e.PrevHash = append([]byte{0}, e.PrevHash...) }},
		{"Hash", func(e *store.AuditEntry) { e.Hash[0] ^= 1 }},
		{"Seq", func(e *store.AuditEntry) { e.Seq += n }},
	}
	for _, orig := range all {
		for _, f := range fields {
			e := orig
			e.Detail = map[string]string{"field": orig.Detail["field"], "n": orig.Detail["n"]}
			e.PrevHash = append([]byte(nil), orig.PrevHash...)
			e.Hash = append([]byte(nil), orig.Hash...)
			f.alter(&e)
			require.NoError(t, store.AuditPutForTest(st, orig.Seq, e))
			res, err := audit.Verify(st)
			require.NoError(t, err)
			require.False(t, res.OK, "entry %d with %s altered: verify = %+v", orig.Seq, f.name, res)
			require.Equal(t, orig.Seq, res.FirstBroken, "entry %d with %s altered: verify = %+v", orig.Seq, f.name, res)
			require.NoError(t, store.AuditPutForTest(st, orig.Seq, orig))
		}
	}
	res, err := audit.Verify(st)
	require.NoError(t, err)
	require.True(t, res.OK, "restored chain: %+v", res)
	require.EqualValues(t, n, res.Entries, "restored chain")
}

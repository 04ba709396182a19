package store_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// TestAllowBulkWriteGatesRotation checks that Options.AllowBulkWrite is
// asked before each transaction of a field-key rotation: refused before
// it starts, no term is started; refused part-way (the disk filled while
// it ran), it stops with the hook's error, every field still opens, and
// the next RotateFields resumes the same term and retires the old one.
func TestAllowBulkWriteGatesRotation(t *testing.T) {
	t.Parallel()
	errFull := errors.New("disk nearly full")
	var calls, refuseFrom atomic.Int64 // refuse the calls numbered from refuseFrom on (0: none)
	st, err := store.Open(t.TempDir(), testRoot, store.Options{AllowBulkWrite: func() error {
		if n := calls.Add(1); refuseFrom.Load() != 0 && n >= refuseFrom.Load() {
			return errFull
		}
		return nil
	}})
	require.NoError(t, err)
	defer st.Close()
	seeds := map[string]string{}
	for i := range 10 {
		id := fmt.Sprintf("u%04d", i)
		seeds[id] = "seed-" + id
		seed, err := st.Credentials().SealTOTPSeed(id, []byte(seeds[id]))
		require.NoError(t, err)
		_, err = st.Credentials().Put(id, func(store.Credential, bool) (store.Credential, error) {
			return store.Credential{ID: id, PasswordHash: phc, TOTPSeed: seed}, nil
		})
		require.NoError(t, err)
	}
	opensAll := func(when string) {
		t.Helper()
		for id, want := range seeds {
			c, err := st.Credentials().Get(id)
			require.NoError(t, err, "%s: %s", when, id)
			got, err := st.Credentials().OpenTOTPSeed(c)
			require.NoError(t, err, "%s: %s", when, id)
			require.Equal(t, want, string(got), "%s: %s: seed %q", when, id, got)
		}
	}

	refuseFrom.Store(1)
	r, err := st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 3})
	require.ErrorIs(t, err, errFull, "refused up front: %+v, %v; want the hook's error and no term", r, err)
	require.Zero(t, r.Term, "refused up front: %+v, %v; want the hook's error and no term", r, err)
	// The new term, one batch, then the disk is full.
	calls.Store(0)
	refuseFrom.Store(3)
	r, err = st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 3})
	require.ErrorIs(t, err, errFull, "refused part-way: %+v, %v; want term 2, one batch of 3 re-sealed, the hook's error", r, err)
	require.Equal(t, uint32(2), r.Term, "refused part-way: %+v; want term 2", r)
	require.Equal(t, 3, r.Resealed, "refused part-way: %+v; want one batch of 3 re-sealed", r)
	require.Zero(t, st.Barrier().RetiredFieldTerm(), "a refused rotation retired term %d", st.Barrier().RetiredFieldTerm())
	opensAll("after the refused rotation")

	refuseFrom.Store(0)
	r, err = st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 3})
	require.NoError(t, err, "after the space came back")
	const msg = "after the space came back: %+v; want term 2 resumed, 7 fields left re-sealed, term 1 retired"
	require.True(t, r.Resumed, msg, r)
	require.Equal(t, uint32(2), r.Term, msg, r)
	require.Equal(t, uint32(1), r.Retired, msg, r)
	require.Equal(t, 7, r.Resealed, msg, r)
	opensAll("after the resumed rotation")
}

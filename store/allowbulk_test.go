package store_test

import (
	"errors"
	"fmt"
	"github.com/stretchr/testify/require"
	"sync/atomic"
	"testing"

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
		if _, err := st.Credentials().Put(id, func(store.Credential, bool) (store.Credential, error) {
			return store.Credential{ID: id, PasswordHash: phc, TOTPSeed: seed}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	opensAll := func(when string) {
		t.Helper()
		for id, want := range seeds {
			c, err := st.Credentials().Get(id)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, id, err)
			}
			got, err := st.Credentials().OpenTOTPSeed(c)
			if err != nil || string(got) != want {
				t.Fatalf("%s: %s: seed %q, %v", when, id, got, err)
			}
		}
	}

	refuseFrom.Store(1)
	if r, err := st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 3}); !errors.Is(err, errFull) || r.Term != 0 {
		t.Fatalf("refused up front: %+v, %v; want the hook's error and no term", r, err)
	}
	// The new term, one batch, then the disk is full.
	calls.Store(0)
	refuseFrom.Store(3)
	r, err := st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 3})
	if !errors.Is(err, errFull) || r.Term != 2 || r.Resealed != 3 {
		t.Fatalf("refused part-way: %+v, %v; want term 2, one batch of 3 re-sealed, the hook's error", r, err)
	}
	if st.Barrier().RetiredFieldTerm() != 0 {
		t.Fatalf("a refused rotation retired term %d", st.Barrier().RetiredFieldTerm())
	}
	opensAll("after the refused rotation")

	refuseFrom.Store(0)
	r, err = st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 3})
	if err != nil || !r.Resumed || r.Term != 2 || r.Retired != 1 || r.Resealed != 7 {
		t.Fatalf("after the space came back: %+v, %v; want term 2 resumed, 7 fields left re-sealed, term 1 retired", r, err)
	}
	opensAll("after the resumed rotation")
}

package store_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// TestAllowWriteGatesEveryWriter checks that Options.AllowWrite is the one
// gate of every kind of write: a transaction, a repository's own write,
// the audit chain and a field-key rotation are refused with the hook's
// error while it refuses, reads go on, and writes resume when it allows
// them again. The daemon's free-space watermark relies on this.
func TestAllowWriteGatesEveryWriter(t *testing.T) {
	t.Parallel()
	errFull := errors.New("disk nearly full")
	var refuse atomic.Bool
	q := audit.NewQueue()
	st, err := store.Open(t.TempDir(), testRoot, store.Options{Audit: q, AllowWrite: func() error {
		if refuse.Load() {
			return errFull
		}
		return nil
	}})
	require.NoError(t, err)
	defer st.Close()
	u, err := st.Users().Create(store.User{Username: "before"})
	require.NoError(t, err)
	log, err := audit.Open(st, q, audit.Options{})
	require.NoError(t, err)
	defer log.Close()

	refuse.Store(true)
	writes := []struct {
		name string
		do   func() error
	}{
		{"update", func() error {
			return st.Update(func(tx *store.Tx) error {
				_, err := tx.Users().Create(store.User{Username: "in-tx"})
				return err
			})
		}},
		{"repository write", func() error { _, err := st.Users().Create(store.User{Username: "direct"}); return err }},
		{"login state", func() error {
			_, err := st.Logins().Put(u.ID, func(l store.LoginState) (store.LoginState, error) { l.FailedLogins++; return l, nil })
			return err
		}},
		{"audit chain", func() error {
			return st.AuditLog().Update(func(*store.AuditTxn) error { return nil })
		}},
		{"field key rotation", func() error { _, err := st.Barrier().RotateFieldKey(); return err }},
	}
	for _, w := range writes {
		err := w.do()
		assert.ErrorIs(t, err, errFull, "%s while refused: err = %v, want the hook's error", w.name, err)
	}
	got, err := st.Users().Get(u.ID)
	require.NoError(t, err, "read while writes are refused")
	require.Equal(t, "before", got.Username, "read while writes are refused: %+v", got)
	_, err = st.Users().GetByUsername("direct")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused write left a record: %v", err)

	refuse.Store(false)
	_, err = st.Users().Create(store.User{Username: "after"})
	require.NoError(t, err, "write after the hook allows again")
}

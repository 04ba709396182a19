package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// fieldStore is a store with sealed fields of every kind: n credentials
// with a TOTP seed and three signing keys, all under term 1.
func fieldStore(t *testing.T, n int) (*store.Store, map[string]store.Sealed) {
	t.Helper()
	st, err := store.Open(t.TempDir(), testRoot, store.Options{Audit: audit.NewQueue()})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	old := map[string]store.Sealed{}
	for i := range n {
		id := fmt.Sprintf("u%04d", i)
		seed, err := st.Credentials().SealTOTPSeed(id, []byte("seed-"+id))
		require.NoError(t, err)
		_, err = st.Credentials().Put(id, func(store.Credential, bool) (store.Credential, error) {
			return store.Credential{ID: id, PasswordHash: phc, TOTPSeed: seed}, nil
		})
		require.NoError(t, err)
		old["cred/"+id] = seed
	}
	for i := range 3 {
		kid := fmt.Sprintf("k%d", i)
		priv, err := st.SigningKeys().SealPrivate(kid, []byte("private-"+kid))
		require.NoError(t, err)
		_, err = st.SigningKeys().Create(store.SigningKey{KID: kid, Alg: "ES256", Private: priv, Public: []byte("pub")})
		require.NoError(t, err)
		old["signingkey/"+kid] = priv
	}
	return st, old
}

// sealedTerms returns the term of every sealed field in the store.
func sealedTerms(t *testing.T, st *store.Store) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	err := st.View(func(tx *store.Tx) error {
		keys, err := tx.SigningKeys().List()
		if err != nil {
			return err
		}
		for _, k := range keys {
			out["signingkey/"+k.KID] = k.Private.Term()
		}
		return nil
	})
	require.NoError(t, err)
	for i := 0; ; i++ {
		id := fmt.Sprintf("u%04d", i)
		c, err := st.Credentials().Get(id)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		require.NoError(t, err)
		out["cred/"+id] = c.TOTPSeed.Term()
	}
	return out
}

// After RotateFields no sealed field remains under the old term, every
// field still opens to what it held, the old ciphertexts open nothing
// (also after a reopen), the retirement is audited, and a backup taken
// before still restores and opens with its own terms.
func TestRotateFieldsRetiresOldTerm(t *testing.T) {
	t.Parallel()
	st, old := fieldStore(t, 300)
	var before bytes.Buffer
	require.NoError(t, st.Barrier().Backup(&before))
	res, err := st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 64, Audit: func(r store.FieldRotation) store.AuditEntry {
		return store.AuditEntry{Type: "keys.rotate_fields", Actor: "uid:0", Result: "ok",
			Detail: map[string]string{"term": fmt.Sprint(r.Term), "resealed": fmt.Sprint(r.Resealed)}}
	}})
	require.NoError(t, err)
	const want = "rotation = %+v, want term 2, retired 1, 303 re-sealed"
	require.Equal(t, uint32(2), res.Term, want, res)
	require.Equal(t, uint32(1), res.Retired, want, res)
	require.Equal(t, 303, res.Resealed, want, res)
	require.False(t, res.Resumed, want, res)
	for k, term := range sealedTerms(t, st) {
		require.Equal(t, uint32(2), term, "%s still under term %d", k, term)
	}
	check := func(st *store.Store) {
		t.Helper()
		c, err := st.Credentials().Get("u0007")
		require.NoError(t, err)
		seed, err := st.Credentials().OpenTOTPSeed(c)
		require.NoError(t, err, "re-sealed seed")
		require.Equal(t, "seed-u0007", string(seed), "re-sealed seed opens to %q", seed)
		k, err := st.SigningKeys().Get("k1")
		require.NoError(t, err)
		p, err := st.SigningKeys().OpenPrivate(k)
		require.NoError(t, err, "re-sealed private key")
		require.Equal(t, "private-k1", string(p), "re-sealed private key opens to %q", p)
		for rk, s := range old {
			field := store.FieldTOTPSeed
			if strings.HasPrefix(rk, "signingkey/") {
				field = store.FieldSigningKeyPrivate
			}
			_, err := st.Barrier().OpenField(rk, field, s)
			require.ErrorIs(t, err, store.ErrSealedField, "old-term %s: err = %v, want a retired-term ErrSealedField", rk, err)
			require.ErrorContains(t, err, "retired", "old-term %s: err = %v, want a retired-term ErrSealedField", rk, err)
		}
	}
	check(st)
	pending, err := st.AuditLog().Pending(0, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1, "audit staged %+v", pending)
	require.Equal(t, "keys.rotate_fields", pending[0].Entry.Type, "audit staged %+v", pending)
	require.Equal(t, "2", pending[0].Entry.Detail["term"], "audit staged %+v", pending)

	// A rotation again starts term 3 and retires 2.
	res, err = st.Barrier().RotateFields(store.RotateFieldsOptions{})
	require.NoError(t, err, "second rotation")
	require.Equal(t, uint32(3), res.Term, "second rotation = %+v", res)
	require.Equal(t, uint32(2), res.Retired, "second rotation = %+v", res)

	// The old backup restores with its own terms: term 1 opens there.
	dir := t.TempDir() + "/restored"
	require.NoError(t, store.Restore(bytes.NewReader(before.Bytes()), dir, testRoot))
	rs, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	defer rs.Close()
	got, err := rs.Barrier().OpenField("cred/u0003", store.FieldTOTPSeed, old["cred/u0003"])
	require.NoError(t, err, "old backup's own term")
	require.Equal(t, "seed-u0003", string(got), "old backup's own term: %q", got)
}

// A field sealed before a rotation cannot be written back after it: the
// floor refuses it, so no old term can creep back in.
func TestRotateFieldsRefusesStaleSeal(t *testing.T) {
	t.Parallel()
	st, _ := fieldStore(t, 2)
	stale, err := st.Credentials().SealTOTPSeed("u0000", []byte("new seed"))
	require.NoError(t, err)
	_, err = st.Barrier().RotateFields(store.RotateFieldsOptions{})
	require.NoError(t, err)
	_, err = st.Credentials().Put("u0000", func(c store.Credential, _ bool) (store.Credential, error) {
		c.TOTPSeed = stale
		return c, nil
	})
	require.ErrorIs(t, err, store.ErrSealedField, "stale seal written back: %v", err)
	require.ErrorContains(t, err, "seal it again", "stale seal written back: %v", err)
	// An unrelated change to the record passes.
	_, err = st.Credentials().Put("u0000", func(c store.Credential, _ bool) (store.Credential, error) {
		c.TOTPLastStep++
		return c, nil
	})
	require.NoError(t, err)
}

// Writers go on during the rotation: logins bump counters on the same
// records and others set new seeds; none of it leaves a field under the
// old term.
func TestRotateFieldsOnline(t *testing.T) {
	t.Parallel()
	st, _ := fieldStore(t, 400)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes, refused atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("u%04d", (i*7+w*101)%400)
				var seed store.Sealed
				if w%2 == 1 {
					var err error
					if seed, err = st.Credentials().SealTOTPSeed(id, []byte("reset-"+id)); !assert.NoError(t, err) {
						return
					}
				}
				_, err := st.Credentials().Put(id, func(c store.Credential, _ bool) (store.Credential, error) {
					c.TOTPLastStep++
					if seed != nil {
						c.TOTPSeed = seed
					}
					return c, nil
				})
				switch {
				case errors.Is(err, store.ErrSealedField):
					refused.Add(1) // sealed before the floor rose: the caller seals again
				case !assert.NoError(t, err):
					return
				}
				writes.Add(1)
			}
		})
	}
	for writes.Load() < 50 {
		runtime.Gosched()
	}
	_, err := st.Barrier().RotateFields(store.RotateFieldsOptions{Batch: 32})
	stop.Store(true)
	wg.Wait()
	require.NoError(t, err)
	t.Logf("%d writes during the rotation, %d stale seals refused", writes.Load(), refused.Load())
	for k, term := range sealedTerms(t, st) {
		require.Equal(t, uint32(2), term, "%s under term %d after an online rotation", k, term)
	}
}

package storetest

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// fieldBinding: a sealed field opens only under its own record key and
// field name, and any changed byte is refused.
func checkFieldBinding(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	secret := []byte("JBSWY3DPEHPK3PXP-totp-seed")
	sealed, err := st.Barrier().SealField(store.UserRecordKey("u1"), store.FieldTOTPSeed, secret)
	must(t, "seal", err)
	require.False(t, bytes.Contains(sealed, secret), "sealed field contains its plaintext")
	again, err := st.Barrier().SealField(store.UserRecordKey("u1"), store.FieldTOTPSeed, secret)
	must(t, "seal again", err)
	require.False(t, bytes.Equal(sealed, again), "two seals of one value are identical: nonce reuse")

	plain, err := st.Barrier().OpenField(store.UserRecordKey("u1"), store.FieldTOTPSeed, sealed)
	must(t, "open", err)
	require.Equal(t, secret, plain, "open does not return the plaintext")

	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name, record, field string
		sealed              store.Sealed
	}{
		{"other record", store.UserRecordKey("u2"), store.FieldTOTPSeed, sealed},
		{"other field", store.UserRecordKey("u1"), "mfa.other", sealed},
		{"other kind of record", store.SigningKeyRecordKey("u1"), store.FieldTOTPSeed, sealed},
		{"record/field boundary", store.UserRecordKey("u1") + "mfa", ".totpSeed", sealed},
		{"flipped tag bit", store.UserRecordKey("u1"), store.FieldTOTPSeed, flipped},
		{"truncated", store.UserRecordKey("u1"), store.FieldTOTPSeed, sealed[:len(sealed)-1]},
		{"empty", store.UserRecordKey("u1"), store.FieldTOTPSeed, nil},
		{"unknown term", store.UserRecordKey("u1"), store.FieldTOTPSeed, withTerm(sealed, 9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.Barrier().OpenField(tc.record, tc.field, tc.sealed)
			mustErr(t, "open", err, store.ErrSealedField)
		})
	}

	// Through a repository: a seed moved to another user's credential
	// fails, and so does one sealed to the user record instead of the
	// credential record.
	users, creds := st.Users(), st.Credentials()
	a, err := users.Create(store.User{Username: "a"})
	must(t, "create a", err)
	b, err := users.Create(store.User{Username: "b"})
	must(t, "create b", err)
	seedA, err := creds.SealTOTPSeed(a.ID, secret)
	must(t, "seal seed", err)
	put := func(id string, seed store.Sealed) store.Credential {
		t.Helper()
		c, err := creds.Put(id, func(c store.Credential, _ bool) (store.Credential, error) {
			c.ID, c.TOTPSeed, c.TOTPEnabled = id, seed, true
			return c, nil
		})
		must(t, "store seed", err)
		return c
	}
	ca := put(a.ID, seedA)
	cb := put(b.ID, seedA)
	got, err := creds.OpenTOTPSeed(ca)
	must(t, "open a's seed", err)
	require.Equal(t, secret, got, "a's seed does not round-trip")
	_, err = creds.OpenTOTPSeed(cb)
	mustErr(t, "open a's seed copied into b", err, store.ErrSealedField)
	onUser, err := st.Barrier().SealField(store.UserRecordKey(a.ID), store.FieldTOTPSeed, secret)
	must(t, "seal to the user record", err)
	_, err = creds.OpenTOTPSeed(put(a.ID, onUser))
	mustErr(t, "open a seed sealed to the user record", err, store.ErrSealedField)
}

func withTerm(s store.Sealed, term byte) store.Sealed {
	c := bytes.Clone(s)
	c[4] = term
	return c
}

// fieldKeyRotation: after rotation new seals use the new term and old
// ciphertexts still open, also after a reopen.
func checkFieldKeyRotation(t *testing.T, h *harness) {
	dir := t.TempDir()
	st, err := h.open(t, dir)
	must(t, "open", err)
	rec := store.SigningKeyRecordKey("k")
	field := store.FieldSigningKeyPrivate
	old, err := st.Barrier().SealField(rec, field, []byte("term one"))
	must(t, "seal", err)
	require.Equal(t, uint32(1), old.Term(), "new store seals under term %d (active %d), want 1", old.Term(), st.Barrier().FieldKeyTerm())
	require.Equal(t, uint32(1), st.Barrier().FieldKeyTerm(), "new store seals under term %d (active %d), want 1", old.Term(), st.Barrier().FieldKeyTerm())
	term, err := st.Barrier().RotateFieldKey()
	must(t, "rotate", err)
	require.Equal(t, uint32(2), term, "rotate returned term %d, active %d; want 2", term, st.Barrier().FieldKeyTerm())
	require.Equal(t, uint32(2), st.Barrier().FieldKeyTerm(), "rotate returned term %d, active %d; want 2", term, st.Barrier().FieldKeyTerm())
	cur, err := st.Barrier().SealField(rec, field, []byte("term two"))
	must(t, "seal after rotate", err)
	require.Equal(t, uint32(2), cur.Term(), "seal after rotate uses term %d", cur.Term())
	// The same ciphertext relabelled with the other term must not open.
	_, err = st.Barrier().OpenField(rec, field, withTerm(old, 2))
	mustErr(t, "term relabelled", err, store.ErrSealedField)
	must(t, "close", st.Close())

	st = h.openIn(t, dir)
	require.Equal(t, uint32(2), st.Barrier().FieldKeyTerm(), "active term after reopen")
	for want, s := range map[string]store.Sealed{"term one": old, "term two": cur} {
		got, err := st.Barrier().OpenField(rec, field, s)
		must(t, "open "+want+" after reopen", err)
		require.Equal(t, want, string(got), "open = %q, want %q", got, want)
	}
}

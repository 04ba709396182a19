package storetest

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// providers checks the delivery-provider table: its secret is sealed to
// the provider's own record (another provider's record cannot open it),
// survives a field-key rotation, and an unset secret opens as nil.
func checkProviders(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	ps := st.Providers()
	secret := []byte("relay-password")
	sealed, err := ps.SealSecret("relay", secret)
	must(t, "seal secret", err)
	require.False(t, bytes.Contains(sealed, secret), "sealed secret holds the plaintext")
	_, err = ps.Create(store.Provider{Name: "relay", Category: "Email", Type: "smtp", Host: "mail.example", Port: 587, ClientSecret: sealed})
	must(t, "create", err)
	_, err = ps.Create(store.Provider{Name: "relay", Category: "Email"})
	mustErr(t, "duplicate name", err, store.ErrExists)
	_, err = ps.Create(store.Provider{Name: "other", Category: "SMS", ClientSecret: sealed})
	must(t, "create other", err)

	got, err := ps.Get("relay")
	must(t, "get", err)
	plain, err := ps.OpenSecret(got)
	must(t, "open secret", err)
	require.Equal(t, secret, plain, "secret does not round-trip")
	other, err := ps.Get("other")
	must(t, "get other", err)
	_, err = ps.OpenSecret(other)
	require.Error(t, err, "a secret sealed to one provider opened under another's name")
	must(t, "delete", ps.Delete("other")) // rotation would refuse its mis-bound secret
	_, err = st.Barrier().RotateFields(store.RotateFieldsOptions{})
	require.NoError(t, err, "rotate fields")
	got, err = ps.Get("relay")
	must(t, "get after rotation", err)
	plain, err = ps.OpenSecret(got)
	must(t, "open after rotation", err)
	require.Equal(t, secret, plain, "secret lost in rotation")
	none, err := ps.OpenSecret(store.Provider{Name: "x"})
	require.Nil(t, none, "unset secret = %q, %v", none, err)
	require.NoError(t, err, "unset secret = %q, %v", none, err)
	list, err := ps.List()
	must(t, "list", err)
	require.Len(t, list, 1, "list = %+v", list)
	require.Equal(t, "relay", list[0].Name, "list = %+v", list)
}

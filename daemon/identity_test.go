package daemon

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// testIdentity opens a real store in a temporary directory and the
// Identity layer over it, closed at cleanup.
func testIdentity(t *testing.T) *identityPlane {
	_, idp := testStoreIdentity(t)
	return idp
}

// testStoreIdentity is testIdentity that also hands out the store.
func testStoreIdentity(t *testing.T) (*store.Store, *identityPlane) {
	t.Helper()
	key := make([]byte, store.RootKeySize)
	if _, err := rand.Read(key); err != nil {
		require.Fail(t, fmt.Sprint(err))
	}
	q := audit.NewQueue()
	st, err := store.Open(t.TempDir(), key, store.Options{Audit: q})
	require.NoError(t, err)
	idp, err := openIdentity(st, q, Default(), slog.Default())
	if err != nil {
		st.Close()
		require.Fail(t, fmt.Sprint(err))
	}
	t.Cleanup(func() {
		idp.close()
		st.Close()
	})
	return st, idp
}

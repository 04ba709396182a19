package daemon

import (
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/accessd/accessd/store"
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
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idp, err := openIdentity(st, Default(), slog.Default())
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		idp.close()
		st.Close()
	})
	return st, idp
}

package storetest

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/accessd/accessd/store"
)

// Opener opens the store under test in dir. Calls with the same dir must
// reach the same data under the same root key, so the suite can close and
// reopen a store.
type Opener func(dir string) (*store.Store, error)

// Run runs the whole suite, each part in its own subtest and directory.
func Run(t *testing.T, open Opener) {
	h := &harness{open: open}
	t.Run("Users", h.users)
	t.Run("UserErrors", h.userErrors)
	t.Run("Credentials", h.credentials)
	t.Run("LoginState", h.loginState)
	t.Run("Groups", h.groups)
	t.Run("MemberIndex", h.memberIndex)
	t.Run("MemberIndexLarge", h.memberIndexLarge)
	t.Run("Applications", h.applications)
	t.Run("RefreshFamilies", h.refreshFamilies)
	t.Run("SigningKeys", h.signingKeys)
	t.Run("Providers", h.providers)
	t.Run("Audit", h.audit)
	t.Run("AuditStaged", h.auditStaged)
	t.Run("Sum", h.sum)
	t.Run("Paging", h.paging)
	t.Run("TxAtomicity", h.txAtomicity)
	t.Run("TxForcedLogout", h.txForcedLogout)
	t.Run("TxReadOnly", h.txReadOnly)
	t.Run("TxConflictRetry", h.txConflictRetry)
	t.Run("ConcurrentUpdates", h.concurrentUpdates)
	t.Run("ConcurrentLoginCounter", h.concurrentLoginCounter)
	t.Run("ConcurrentUniqueCreate", h.concurrentUniqueCreate)
	t.Run("ConcurrentAudit", h.concurrentAudit)
	t.Run("FieldBinding", h.fieldBinding)
	t.Run("FieldKeyRotation", h.fieldKeyRotation)
	t.Run("Reopen", h.reopen)
	t.Run("EncryptedAtRest", h.encryptedAtRest)
	t.Run("Closed", h.closed)
}

// Open opens a real store in a new t.TempDir() under a random root key
// and closes it at t.Cleanup: what the tests of oauth/* build on, so that
// nothing is tested against a fake store.
func Open(t testing.TB) *store.Store {
	t.Helper()
	return OpenDir(t, t.TempDir(), RandomRootKey(t))
}

// OpenDir opens the store in dir under rootKey and closes it at
// t.Cleanup (closing it earlier is fine: Close is idempotent). Use it to
// reopen a store, as a restart would.
func OpenDir(t testing.TB, dir string, rootKey []byte) *store.Store {
	t.Helper()
	st, err := store.Open(dir, rootKey, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// RandomRootKey returns a fresh random root key. Tests only.
func RandomRootKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, store.RootKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

type harness struct{ open Opener }

// fresh opens a store in a new directory, closed at cleanup.
func (h *harness) fresh(t *testing.T) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return h.openIn(t, dir), dir
}

func (h *harness) openIn(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := h.open(dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// mustErr fails unless err wraps want.
func mustErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

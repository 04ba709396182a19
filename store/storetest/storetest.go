package storetest

import (
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
	t.Run("Groups", h.groups)
	t.Run("Applications", h.applications)
	t.Run("RefreshFamilies", h.refreshFamilies)
	t.Run("SigningKeys", h.signingKeys)
	t.Run("Audit", h.audit)
	t.Run("Paging", h.paging)
	t.Run("ConcurrentUpdates", h.concurrentUpdates)
	t.Run("ConcurrentUniqueCreate", h.concurrentUniqueCreate)
	t.Run("ConcurrentAppend", h.concurrentAppend)
	t.Run("FieldBinding", h.fieldBinding)
	t.Run("FieldKeyRotation", h.fieldKeyRotation)
	t.Run("Reopen", h.reopen)
	t.Run("EncryptedAtRest", h.encryptedAtRest)
	t.Run("Closed", h.closed)
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
func mustErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

package storetest

import (
	"crypto/rand"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Opener opens the store under test in dir with q as its audit clock
// (store.Options.Audit). Calls with the same dir must reach the same data
// under the same root key, so the suite can close and reopen a store.
type Opener func(dir string, q store.AuditClock) (*store.Store, error)

// Run runs the whole suite, each part in its own subtest and directory.
func Run(t *testing.T, open Opener) {
	h := &harness{opener: open}
	for _, c := range suite {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// suite is the conformance suite: each check opens the stores it needs
// through its harness.
var suite = []struct {
	name string
	run  func(t *testing.T, h *harness)
}{
	{"Users", checkUsers},
	{"UserErrors", checkUserErrors},
	{"Credentials", checkCredentials},
	{"LoginState", checkLoginState},
	{"Groups", checkGroups},
	{"MemberIndex", checkMemberIndex},
	{"MemberIndexLarge", checkMemberIndexLarge},
	{"Applications", checkApplications},
	{"RefreshFamilies", checkRefreshFamilies},
	{"SigningKeys", checkSigningKeys},
	{"Providers", checkProviders},
	{"Audit", checkAudit},
	{"AuditStaged", checkAuditStaged},
	{"Sum", checkSum},
	{"Paging", checkPaging},
	{"TxAtomicity", checkTxAtomicity},
	{"TxForcedLogout", checkTxForcedLogout},
	{"TxReadOnly", checkTxReadOnly},
	{"TxConflictRetry", checkTxConflictRetry},
	{"ConcurrentUpdates", checkConcurrentUpdates},
	{"ConcurrentLoginCounter", checkConcurrentLoginCounter},
	{"ConcurrentUniqueCreate", checkConcurrentUniqueCreate},
	{"ConcurrentAudit", checkConcurrentAudit},
	{"FieldBinding", checkFieldBinding},
	{"FieldKeyRotation", checkFieldKeyRotation},
	{"Reopen", checkReopen},
	{"EncryptedAtRest", checkEncryptedAtRest},
	{"Closed", checkClosed},
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
	return OpenWith(t, dir, rootKey, store.Options{})
}

// OpenWith is OpenDir with opts; an audit queue of its own (Queue) is
// put in opts.Audit.
func OpenWith(t testing.TB, dir string, rootKey []byte, opts store.Options) *store.Store {
	t.Helper()
	q := audit.NewQueue()
	opts.Audit = q
	st, err := store.Open(dir, rootKey, opts)
	require.NoError(t, err, "open store")
	track(t, st, q)
	t.Cleanup(func() {
		assert.NoError(t, st.Close(), "close store")
	})
	return st
}

// queues maps each store this package opened to the audit queue it was
// opened with, until the test that opened it ends.
var queues sync.Map // *store.Store -> *audit.Queue

func track(t testing.TB, st *store.Store, q *audit.Queue) {
	queues.Store(st, q)
	t.Cleanup(func() { queues.Delete(st) })
}

// Queue returns the audit queue st was opened with (by Open, OpenDir or
// the suite): the one to open its audit writer with.
func Queue(t testing.TB, st *store.Store) *audit.Queue {
	t.Helper()
	q, ok := queues.Load(st)
	require.True(t, ok, "storetest.Queue: the store was not opened by storetest")
	return q.(*audit.Queue)
}

// RandomRootKey returns a fresh random root key. Tests only.
func RandomRootKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, store.RootKeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

type harness struct{ opener Opener }

// open opens a store in dir with an audit queue of its own (Queue).
func (h *harness) open(t testing.TB, dir string) (*store.Store, error) {
	q := audit.NewQueue()
	st, err := h.opener(dir, q)
	if err == nil {
		track(t, st, q)
	}
	return st, err
}

// fresh opens a store in a new directory, closed at cleanup.
func (h *harness) fresh(t *testing.T) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return h.openIn(t, dir), dir
}

func (h *harness) openIn(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := h.open(t, dir)
	require.NoError(t, err, "open store")
	t.Cleanup(func() {
		assert.NoError(t, st.Close(), "close store")
	})
	return st
}

// mustErr fails unless err wraps want.
func mustErr(t testing.TB, what string, err, want error) {
	t.Helper()
	require.ErrorIs(t, err, want, "%s: got error %v, want %v", what, err, want)
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	require.NoError(t, err, "%s", what)
}

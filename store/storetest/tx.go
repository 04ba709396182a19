package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// errAbort is what the suite's transactions return to roll back.
var errAbort = errors.New("storetest: abort")

// ignore returns nil when err wraps want, and an error otherwise
// (including when err is nil).
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("got %v, want %v", err, want)
}

// txAtomicity: a transaction's writes across repositories (user, its
// credential and login state, an audit entry) commit together or not at
// all, also when the error comes from a repository inside it.
func checkTxAtomicity(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	var id string
	change := func(tx *store.Tx, name string) error {
		u, err := tx.Users().Create(store.User{Username: name, Groups: []string{"g"}})
		if err != nil {
			return err
		}
		id = u.ID
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			c.ID, c.PasswordHash = u.ID, phc
			return c, nil
		}); err != nil {
			return err
		}
		if _, err := tx.Logins().Put(u.ID, func(l store.LoginState) (store.LoginState, error) { l.FailedLogins = 1; return l, nil }); err != nil {
			return err
		}
		// Reads inside the transaction see its own writes.
		if got, err := tx.Users().GetByUsername(name); err != nil || got.ID != u.ID {
			return fmt.Errorf("own write not visible: %v", err)
		}
		return tx.Audit().Stage(store.AuditEntry{Type: "user.create", Target: u.ID})
	}
	_, err := st.Users().Create(store.User{Username: "taken"})
	must(t, "create taken", err)

	tests := []struct {
		name string
		fn   func(tx *store.Tx) error
		want error
	}{
		{"fn returns an error", func(tx *store.Tx) error {
			if err := change(tx, "rolled-back"); err != nil {
				return err
			}
			return errAbort
		}, errAbort},
		{"a later write fails", func(tx *store.Tx) error {
			if err := change(tx, "rolled-back"); err != nil {
				return err
			}
			_, err := tx.Users().Create(store.User{Username: "taken"})
			return err
		}, store.ErrExists},
		{"a later update's callback fails", func(tx *store.Tx) error {
			if err := change(tx, "rolled-back"); err != nil {
				return err
			}
			_, err := tx.Users().Update(id, func(u store.User) (store.User, error) { return u, errAbort })
			return err
		}, errAbort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := st.Update(tc.fn)
			mustErr(t, "update", err, tc.want)
			_, err = st.Users().GetByUsername("rolled-back")
			mustErr(t, "user of an aborted transaction", err, store.ErrNotFound)
			_, err = st.Users().Get(id)
			mustErr(t, "user by id", err, store.ErrNotFound)
			_, err = st.Credentials().Get(id)
			mustErr(t, "credential of an aborted transaction", err, store.ErrNotFound)
			l, err := st.Logins().Get(id)
			must(t, "login state", err)
			require.Equal(t, uint64(0), l.Version, "login state of an aborted transaction was written: %+v", l)
			members, err := st.Groups().Members("g")
			must(t, "members", err)
			require.Empty(t, members, "member index of an aborted transaction: %+v", members)
			pending, err := st.AuditLog().Pending(0, 0)
			must(t, "pending", err)
			require.Empty(t, pending, "audit entry of an aborted transaction is queued: %+v", pending)
		})
	}

	t.Run("commit", func(t *testing.T) {
		must(t, "update", st.Update(func(tx *store.Tx) error { return change(tx, "committed") }))
		u, err := st.Users().GetByUsername("committed")
		must(t, "user", err)
		c, err := st.Credentials().Get(u.ID)
		must(t, "credential", err)
		l, err := st.Logins().Get(u.ID)
		must(t, "login state", err)
		require.Equal(t, phc, c.PasswordHash, "credential %+v, login state %+v", c, l)
		require.Equal(t, 1, l.FailedLogins, "credential %+v, login state %+v", c, l)
		log, err := audit.Open(st, Queue(t, st), audit.Options{})
		must(t, "open audit log", err)
		defer log.Close()
		must(t, "sync", log.Sync())
		last, err := audit.Last(st)
		must(t, "last audit entry", err)
		require.Equal(t, uint64(1), last.Seq, "the change's audit entry was not chained: %+v", last)
		require.Equal(t, "user.create", last.Type, "the change's audit entry was not chained: %+v", last)
		require.Equal(t, u.ID, last.Target, "the change's audit entry was not chained: %+v", last)
		require.NotEmpty(t, last.Hash, "the change's audit entry was not chained: %+v", last)
		res, err := audit.Verify(st)
		must(t, "verify", err)
		require.True(t, res.OK, "verify = %+v", res)
		require.Equal(t, uint64(1), res.Entries, "verify = %+v", res)
	})
}

// txForcedLogout: moving the user's epoch and revoking every refresh
// family of the user is one change: either both happen or neither.
func checkTxForcedLogout(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	u, err := st.Users().Create(store.User{Username: "victim"})
	must(t, "create user", err)
	subject := "lerian/" + u.ID
	for i := range 3 {
		_, err := st.RefreshFamilies().Create(store.RefreshFamily{Subject: subject, ClientID: "c", CurrentHash: bytes.Repeat([]byte{byte(i + 1)}, 32)})
		must(t, "create family", err)
	}
	other, err := st.RefreshFamilies().Create(store.RefreshFamily{Subject: "lerian/other", ClientID: "c", CurrentHash: bytes.Repeat([]byte{9}, 32)})
	must(t, "create other family", err)
	at := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	logout := func(fail bool) (int, error) {
		var n int
		err := st.Update(func(tx *store.Tx) error {
			if _, err := tx.Users().Update(u.ID, func(u store.User) (store.User, error) { u.LogoutAt = at; return u, nil }); err != nil {
				return err
			}
			var err error
			if n, err = tx.RefreshFamilies().RevokeSubject(subject); err != nil {
				return err
			}
			if err := tx.Audit().Stage(store.AuditEntry{Type: "user.logout", Target: u.ID}); err != nil {
				return err
			}
			if fail {
				return errAbort
			}
			return nil
		})
		return n, err
	}
	revoked := func() int {
		t.Helper()
		fams, err := st.RefreshFamilies().ListBySubject(subject)
		must(t, "list families", err)
		n := 0
		for _, f := range fams {
			if f.Revoked {
				n++
			}
		}
		return n
	}

	_, err = logout(true)
	mustErr(t, "aborted logout", err, errAbort)
	got, err := st.Users().Get(u.ID)
	must(t, "get user", err)
	nRevoked := revoked()
	require.True(t, got.LogoutAt.IsZero(), "aborted logout left logoutAt=%v and %d revoked families", got.LogoutAt, nRevoked)
	require.Equal(t, 0, nRevoked, "aborted logout left logoutAt=%v and %d revoked families", got.LogoutAt, nRevoked)

	n, err := logout(false)
	must(t, "logout", err)
	got, err = st.Users().Get(u.ID)
	must(t, "get user", err)
	nRevoked = revoked()
	require.Equal(t, 3, n, "logout revoked %d (counted %d), logoutAt=%v", nRevoked, n, got.LogoutAt)
	require.True(t, got.LogoutAt.Equal(at), "logout revoked %d (counted %d), logoutAt=%v", nRevoked, n, got.LogoutAt)
	require.Equal(t, 3, nRevoked, "logout revoked %d (counted %d), logoutAt=%v", nRevoked, n, got.LogoutAt)
	o, err := st.RefreshFamilies().Get(other.ID)
	must(t, "get other family", err)
	require.False(t, o.Revoked, "logout revoked another subject's family")
	n, err = st.RefreshFamilies().RevokeSubject(subject)
	must(t, "revoke again", err)
	require.Equal(t, 0, n, "second revoke changed %d families, want 0", n)
}

// txReadOnly: every write inside View is refused with ErrInvalid, and
// reads work.
func checkTxReadOnly(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	u, err := st.Users().Create(store.User{Username: "ro"})
	must(t, "create", err)
	keep := func(x store.User) (store.User, error) { return x, nil }
	tests := []struct {
		name  string
		write func(tx *store.Tx) error
	}{
		{"user create", func(tx *store.Tx) error { _, err := tx.Users().Create(store.User{Username: "x"}); return err }},
		{"user update", func(tx *store.Tx) error { _, err := tx.Users().Update(u.ID, keep); return err }},
		{"user delete", func(tx *store.Tx) error { return tx.Users().Delete(u.ID) }},
		{"credential put", func(tx *store.Tx) error {
			_, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) { c.ID = u.ID; return c, nil })
			return err
		}},
		{"credential delete", func(tx *store.Tx) error { return tx.Credentials().Delete(u.ID) }},
		{"login state put", func(tx *store.Tx) error {
			_, err := tx.Logins().Put(u.ID, func(l store.LoginState) (store.LoginState, error) { return l, nil })
			return err
		}},
		{"login state delete", func(tx *store.Tx) error { return tx.Logins().Delete(u.ID) }},
		{"group create", func(tx *store.Tx) error { _, err := tx.Groups().Create(store.Group{Name: "g"}); return err }},
		{"application create", func(tx *store.Tx) error {
			_, err := tx.Applications().Create(store.Application{Name: "a", ClientID: "c"})
			return err
		}},
		{"refresh family create", func(tx *store.Tx) error {
			_, err := tx.RefreshFamilies().Create(store.RefreshFamily{Subject: "s", CurrentHash: []byte("h")})
			return err
		}},
		{"revoke subject", func(tx *store.Tx) error { _, err := tx.RefreshFamilies().RevokeSubject("s"); return err }},
		{"signing key create", func(tx *store.Tx) error { _, err := tx.SigningKeys().Create(store.SigningKey{KID: "k"}); return err }},
		{"audit stage", func(tx *store.Tx) error { return tx.Audit().Stage(store.AuditEntry{Type: "x"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := st.View(func(tx *store.Tx) error {
				if _, err := tx.Users().Get(u.ID); err != nil {
					return fmt.Errorf("read in view: %w", err)
				}
				return tc.write(tx)
			})
			mustErr(t, "write in view", err, store.ErrInvalid)
		})
	}
	got, err := st.Users().Get(u.ID)
	must(t, "get", err)
	require.Equal(t, uint64(1), got.Version, "a write inside View changed the user: %+v", got)
	n, err := st.Users().Count()
	must(t, "count", err)
	require.Equal(t, 1, n, "count = %d after writes inside View", n)
}

// txConflictRetry: two goroutines that each read a record in a
// transaction and write it back incremented, N times each, end at 2N: the
// transaction that loses the race re-runs on fresh data.
func checkTxConflictRetry(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	const n = 40
	var runs atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range n {
				err := st.Update(func(tx *store.Tx) error {
					runs.Add(1)
					// Read and write are separate calls: only the
					// transaction's conflict check keeps them together.
					cur, err := tx.Logins().Get("shared")
					if err != nil {
						return err
					}
					_, err = tx.Logins().Put("shared", func(l store.LoginState) (store.LoginState, error) {
						l.FailedLogins = cur.FailedLogins + 1
						return l, nil
					})
					return err
				})
				if !assert.NoError(t, err, "update") {
					return
				}
			}
		})
	}
	wg.Wait()
	l, err := st.Logins().Get("shared")
	must(t, "get", err)
	require.Equal(t, 2*n, l.FailedLogins, "two writers of %d increments each left %d", n, l.FailedLogins)
	t.Logf("%d increments took %d runs of fn", 2*n, runs.Load())
}

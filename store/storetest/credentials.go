package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// credentials: a user's credential is its own record, created and
// replaced by Put, with the TOTP seed sealed to "cred/<id>".
func checkCredentials(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	u, err := st.Users().Create(store.User{Username: "cred"})
	must(t, "create user", err)
	creds := st.Credentials()
	_, err = creds.Get(u.ID)
	mustErr(t, "credential before put", err, store.ErrNotFound)

	changed := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	c, err := creds.Put(u.ID, func(old store.Credential, found bool) (store.Credential, error) {
		assert.False(t, found, "first put found %+v", old)
		old.ID = u.ID
		old.PasswordHash = phc
		old.PasswordChangedAt = changed
		old.MustChangePassword = true
		return old, nil
	})
	must(t, "put", err)
	require.Equal(t, uint64(1), c.Version, "put returned %+v", c)
	require.False(t, c.CreatedAt.IsZero(), "put returned %+v", c)
	require.Equal(t, phc, c.PasswordHash, "put returned %+v", c)
	seed := []byte("JBSWY3DPEHPK3PXP-credential")
	sealed, err := creds.SealTOTPSeed(u.ID, seed)
	must(t, "seal seed", err)
	c, err = creds.Put(u.ID, func(old store.Credential, found bool) (store.Credential, error) {
		assert.True(t, found, "second put got found=%v %+v", found, old)
		assert.Equal(t, phc, old.PasswordHash, "second put got found=%v %+v", found, old)
		old.TOTPSeed = sealed
		old.TOTPEnabled = true
		old.RecoveryCodeHashes = [][]byte{bytes.Repeat([]byte{7}, 32)}
		return old, nil
	})
	must(t, "put seed", err)
	require.Equal(t, uint64(2), c.Version, "version after second put")
	got, err := creds.Get(u.ID)
	must(t, "get", err)
	require.Equal(t, phc, got.PasswordHash, "get = %+v", got)
	require.True(t, got.PasswordChangedAt.Equal(changed), "get = %+v", got)
	require.True(t, got.MustChangePassword, "get = %+v", got)
	require.True(t, got.TOTPEnabled, "get = %+v", got)
	require.Len(t, got.RecoveryCodeHashes, 1, "get = %+v", got)
	plain, err := creds.OpenTOTPSeed(got)
	must(t, "open seed", err)
	require.Equal(t, seed, plain, "seed does not round-trip")
	_, err = creds.OpenTOTPSeed(store.Credential{ID: u.ID})
	mustErr(t, "open absent seed", err, store.ErrNotFound)
	// The user record never carries the credential.
	_, err = st.Users().Get(u.ID)
	require.NoError(t, err)

	_, err = creds.Put(u.ID, func(old store.Credential, _ bool) (store.Credential, error) { old.ID = "other"; return old, nil })
	mustErr(t, "put changing the id", err, store.ErrInvalid)
	_, err = creds.Put("", func(old store.Credential, _ bool) (store.Credential, error) { return old, nil })
	mustErr(t, "put with empty id", err, store.ErrInvalid)

	must(t, "delete", creds.Delete(u.ID))
	_, err = creds.Get(u.ID)
	mustErr(t, "get after delete", err, store.ErrNotFound)
	mustErr(t, "delete twice", creds.Delete(u.ID), store.ErrNotFound)
}

// loginState: the hot counters of a user or application. A never-seen ID
// reads as a zero state, and Put is an atomic read-modify-write.
func checkLoginState(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	logins := st.Logins()
	l, err := logins.Get("never-seen")
	must(t, "get never-seen", err)
	require.Equal(t, "never-seen", l.ID, "never-seen state = %+v, want zero with ID", l)
	require.Equal(t, 0, l.FailedLogins, "never-seen state = %+v, want zero with ID", l)
	require.True(t, l.LockedUntil.IsZero(), "never-seen state = %+v, want zero with ID", l)
	require.Equal(t, uint64(0), l.Version, "never-seen state = %+v, want zero with ID", l)
	must(t, "delete never-seen", logins.Delete("never-seen"))

	locked := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l, err = logins.Put("u1", func(old store.LoginState) (store.LoginState, error) {
		assert.Equal(t, "u1", old.ID, "first put got %+v", old)
		assert.Equal(t, uint64(0), old.Version, "first put got %+v", old)
		old.FailedLogins = 5
		old.LockedUntil = locked
		return old, nil
	})
	must(t, "put", err)
	require.Equal(t, uint64(1), l.Version, "put returned %+v", l)
	require.False(t, l.UpdatedAt.IsZero(), "put returned %+v", l)
	l, err = logins.Get("u1")
	must(t, "get", err)
	require.Equal(t, 5, l.FailedLogins, "get = %+v", l)
	require.True(t, l.LockedUntil.Equal(locked), "get = %+v", l)
	must(t, "delete", logins.Delete("u1"))
	l, err = logins.Get("u1")
	must(t, "get after delete", err)
	require.Equal(t, 0, l.FailedLogins, "state after delete = %+v", l)
	require.Equal(t, uint64(0), l.Version, "state after delete = %+v", l)
}

// concurrentLoginCounter: the lockout counter is atomic. 32 concurrent
// failed sign-ins all count, so parallel guesses cannot slip past the
// lockout threshold.
func checkConcurrentLoginCounter(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	const guesses = 32
	var wg sync.WaitGroup
	seen := make(chan int, guesses)
	for range guesses {
		wg.Go(func() {
			l, err := st.Logins().Put("victim", func(old store.LoginState) (store.LoginState, error) {
				old.FailedLogins++
				return old, nil
			})
			if !assert.NoError(t, err, "increment") {
				return
			}
			seen <- l.FailedLogins
		})
	}
	wg.Wait()
	close(seen)
	// Each increment saw a distinct count: none was lost or doubled.
	counts := map[int]bool{}
	for n := range seen {
		assert.False(t, counts[n], "two increments both returned %d", n)
		counts[n] = true
	}
	l, err := st.Logins().Get("victim")
	must(t, "get", err)
	require.Equal(t, guesses, l.FailedLogins, "after %d concurrent increments: failedLogins=%d version=%d", guesses, l.FailedLogins, l.Version)
	require.Equal(t, uint64(guesses), l.Version, "after %d concurrent increments: failedLogins=%d version=%d", guesses, l.FailedLogins, l.Version)
}

// sum: the keyed hash is deterministic, separates purposes (also across
// the purpose/message boundary), and depends on the root key.
func checkSum(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	other := Open(t)
	a := st.Sum("client-secret", []byte("s3cret"))
	tests := []struct {
		name string
		got  []byte
		same bool
	}{
		{"same input", st.Sum("client-secret", []byte("s3cret")), true},
		{"other purpose", st.Sum("refresh-token", []byte("s3cret")), false},
		{"other message", st.Sum("client-secret", []byte("s3creT")), false},
		{"boundary moved", st.Sum("client-secrets", []byte("3cret")), false},
		{"other root key", other.Sum("client-secret", []byte("s3cret")), false},
	}
	require.Len(t, a, 32, "sum is %d bytes, want 32", len(a))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.same, bytes.Equal(a, tc.got), "equal = %v, want %v", !tc.same, tc.same)
		})
	}
	require.False(t, bytes.Contains(a, []byte("s3cret")), "sum contains its input")
}

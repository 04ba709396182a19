package store_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/storetest"
)

// testRoot is the root key of every test store. Tests only.
var testRoot = bytes.Repeat([]byte{0x42}, store.RootKeySize)

// syncBuffer collects log output from Badger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConformance(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	storetest.Run(t, func(dir string, q store.AuditClock) (*store.Store, error) {
		return store.Open(dir, testRoot, store.Options{Logger: log, Audit: q})
	})
	// Nothing the suite stored may reach a log line.
	for _, secret := range []string{"SECRET-totp-seed", "JBSWY3DPEHPK3PXP", "$argon2id$", "pkcs8-private-key"} {
		assert.NotContains(t, logs.String(), secret, "log output contains %q", secret)
	}
}

func TestOpenKeyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	_, err = st.Users().Create(store.User{Username: "x"})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	other := bytes.Repeat([]byte{0x43}, store.RootKeySize)
	tests := []struct {
		name string
		key  []byte
		want error
	}{
		{"wrong root key", other, store.ErrKeyMismatch},
		{"short root key", testRoot[:16], store.ErrInvalid},
		{"no root key", nil, store.ErrInvalid},
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(dir, tc.key, store.Options{Logger: log})
			if err == nil {
				st.Close()
			}
			require.ErrorIs(t, err, tc.want, "open: %v, want %v", err, tc.want)
		})
	}
	// Badger's complaint went to our logger, not to its own stderr one.
	require.Contains(t, logs.String(), "msg=badger", "badger's error did not reach slog; log: %q", logs.String())
	require.Contains(t, logs.String(), "level=ERROR", "badger's error did not reach slog; log: %q", logs.String())
	// The right key still opens it after the failed attempts.
	st, err = store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err, "reopen with the right key")
	defer st.Close()
	_, err = st.Users().GetByUsername("x")
	require.NoError(t, err)
}

func TestInjectedClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	st, err := store.Open(t.TempDir(), testRoot, store.Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer st.Close()
	u, err := st.Users().Create(store.User{Username: "clock"})
	require.NoError(t, err)
	require.True(t, u.CreatedAt.Equal(now), "create stamped %v/%v, want %v", u.CreatedAt, u.UpdatedAt, now)
	require.True(t, u.UpdatedAt.Equal(now), "create stamped %v/%v, want %v", u.CreatedAt, u.UpdatedAt, now)
	now = now.Add(time.Hour)
	u, err = st.Users().Update(u.ID, func(u store.User) (store.User, error) { return u, nil })
	require.NoError(t, err)
	require.True(t, u.UpdatedAt.Equal(now), "update stamped created %v updated %v", u.CreatedAt, u.UpdatedAt)
	require.False(t, u.CreatedAt.Equal(now), "update stamped created %v updated %v", u.CreatedAt, u.UpdatedAt)
}

func TestSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	for range 20 {
		_, err := st.Users().Create(store.User{Username: "u" + time.Now().String()})
		require.NoError(t, err)
	}
	lsm, vlog := st.Size()
	require.Positive(t, lsm, "size = %d, %d; want lsm > 0", lsm, vlog)
	require.GreaterOrEqual(t, vlog, int64(0), "size = %d, %d; want lsm > 0", lsm, vlog)
	t.Logf("lsm %d bytes, vlog %d bytes", lsm, vlog)
}

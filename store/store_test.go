package store_test

import (
	"bytes"
	"github.com/stretchr/testify/require"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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
	storetest.Run(t, func(dir string) (*store.Store, error) {
		return store.Open(dir, testRoot, store.Options{Logger: log})
	})
	// Nothing the suite stored may reach a log line.
	for _, secret := range []string{"SECRET-totp-seed", "JBSWY3DPEHPK3PXP", "$argon2id$", "pkcs8-private-key"} {
		if bytes.Contains([]byte(logs.String()), []byte(secret)) {
			t.Errorf("log output contains %q", secret)
		}
	}
}

func TestOpenKeyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	if _, err := st.Users().Create(store.User{Username: "x"}); err != nil {
		t.Fatal(err)
	}
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
	if !strings.Contains(logs.String(), "msg=badger") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("badger's error did not reach slog; log: %q", logs.String())
	}
	// The right key still opens it after the failed attempts.
	st, err = store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err, "reopen with the right key")
	defer st.Close()
	if _, err := st.Users().GetByUsername("x"); err != nil {
		t.Fatal(err)
	}
}

func TestInjectedClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	st, err := store.Open(t.TempDir(), testRoot, store.Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer st.Close()
	u, err := st.Users().Create(store.User{Username: "clock"})
	require.NoError(t, err)
	if !u.CreatedAt.Equal(now) || !u.UpdatedAt.Equal(now) {
		t.Fatalf("create stamped %v/%v, want %v", u.CreatedAt, u.UpdatedAt, now)
	}
	now = now.Add(time.Hour)
	u, err = st.Users().Update(u.ID, func(u store.User) (store.User, error) { return u, nil })
	require.NoError(t, err)
	if !u.UpdatedAt.Equal(now) || u.CreatedAt.Equal(now) {
		t.Fatalf("update stamped created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	for range 20 {
		if _, err := st.Users().Create(store.User{Username: "u" + time.Now().String()}); err != nil {
			t.Fatal(err)
		}
	}
	lsm, vlog := st.Size()
	if lsm <= 0 || vlog < 0 {
		t.Fatalf("size = %d, %d; want lsm > 0", lsm, vlog)
	}
	t.Logf("lsm %d bytes, vlog %d bytes", lsm, vlog)
}

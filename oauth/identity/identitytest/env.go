// Package identitytest opens what the tests of the identity rooms share:
// a real store in a temporary directory, its audit writer, the permission
// index and the identity service over them, bootstrapped, on a movable
// clock and with cheap argon2id costs. It protects nothing and is never
// imported by production code.
package identitytest

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/identity"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// Admin is the actor of the admin socket.
var Admin = change.Actor{Name: "uid:0", Source: "admin-socket", Admin: true}

// Env is one test's store, audit writer, index and service.
type Env struct {
	Store   *store.Store
	Audit   *audit.Log
	Index   *authz.Index
	Service *identity.Service
	Clock   *testkit.Clock
}

// Open returns a bootstrapped Env with cfg, hashing with ho (zero Params:
// credential.TestParams), closed when t ends.
func Open(t testing.TB, cfg identity.Config, ho credential.HasherOptions, so ...store.Options) *Env {
	t.Helper()
	if ho.Params == (credential.PasswordParams{}) {
		ho.Params = credential.TestParams()
	}
	key := make([]byte, store.RootKeySize)
	_, _ = rand.Read(key)
	st, err := store.Open(t.TempDir(), key, append(so, store.Options{})[0])
	require.NoError(t, err)
	al, err := audit.Open(st, audit.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { al.Close(); st.Close() })
	c := testkit.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	h, err := credential.NewHasher(ho)
	require.NoError(t, err)
	idx := authz.New()
	svc, err := identity.New(st, cfg, identity.Options{Audit: al, Index: idx, Now: c.Now, Hasher: h})
	require.NoError(t, err)
	_, _, err = svc.Bootstrap(context.Background())
	require.NoError(t, err)
	return &Env{Store: st, Audit: al, Index: idx, Service: svc, Clock: c}
}

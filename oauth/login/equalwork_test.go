package login_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// countingStore is the store as the sign-in sees it, counting what it
// asks: every transaction and repository access reads (a read-write
// transaction reads the state it changes), and a read-write transaction
// that commits is a write.
type countingStore struct {
	*store.Store
	reads, writes atomic.Int64
}

func (c *countingStore) Update(fn func(tx *store.Tx) error) error {
	c.reads.Add(1)
	err := c.Store.Update(fn)
	if err == nil {
		c.writes.Add(1)
	}
	return err
}

func (c *countingStore) View(fn func(tx *store.Tx) error) error {
	c.reads.Add(1)
	return c.Store.View(fn)
}

func (c *countingStore) Credentials() *store.CredentialRepo {
	c.reads.Add(1)
	return c.Store.Credentials()
}

func (c *countingStore) Logins() *store.LoginStateRepo {
	c.reads.Add(1)
	return c.Store.Logins()
}

// countingDirectory counts the sign-in's name lookups.
type countingDirectory struct {
	login.Directory
	lookups atomic.Int64
}

func (d *countingDirectory) FindSignIn(name string) (store.User, error) {
	d.lookups.Add(1)
	return d.Directory.FindSignIn(name)
}

// work is what one sign-in attempt cost.
type work struct{ lookups, reads, writes, hashes int64 }

// TestSignInEqualWork: an unknown username, a wrong password for an
// existing account and an account locked by AccountFailures failures in
// a row (answered like a wrong password) do the same work an observer
// can time: one name lookup, the same store reads and one password hash
// each, counted per attempt over shuffled attempts from fresh sources
// (no throttle). The wrong password commits its reservation only (the
// failure must count, durably, before the check); the unknown name and
// the locked account write nothing to the store. All three audit
// through the refusal summary.
func TestSignInEqualWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	cs := &countingStore{Store: e.Store}
	cd := &countingDirectory{Directory: e.Service.SignInDirectory()}
	rep := change.NewRepeats(e.Audit, nil, e.Clock.Now)
	t.Cleanup(rep.Close)
	signIn, _ := login.New(cs, cd, login.Options{Audit: e.Audit, Now: e.Clock.Now, Providers: e.Service.Providers(), Refusals: rep})
	hasher := cd.Hasher()

	wanda := e.User(t, "wanda")
	e.User(t, "lockie")
	src := 0
	from := func() change.Actor {
		src++
		return change.Actor{Name: "client:console", Source: fmt.Sprintf("10.%d.%d.%d", src>>16&255, src>>8&255, src&255)}
	}
	for range login.AccountFailures {
		_, err := signIn.Login(ctx, from(), "lockie", []byte("wrong-password-123"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
	_, err := signIn.Login(ctx, from(), "lockie", []byte("wrong-password-123"))
	require.ErrorIs(t, err, login.ErrAccountLocked, "AccountFailures failures in a row lock the account")

	kinds := map[string]string{"unknown": "nobody-here", "wrong": "wanda", "locked": "lockie"}
	var order []string
	for range 5 {
		order = append(order, "unknown", "wrong", "locked")
	}
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	seen := map[string]work{}
	for _, kind := range order {
		before := work{cd.lookups.Load(), cs.reads.Load(), cs.writes.Load(), hasher.Computed()}
		_, err := signIn.Login(ctx, from(), kinds[kind], []byte("wrong-password-123"))
		require.ErrorIs(t, err, api.ErrBadLogin, kind)
		require.False(t, errors.Is(err, login.ErrThrottled), kind)
		require.Equal(t, kind == "locked", errors.Is(err, login.ErrAccountLocked), kind)
		got := work{cd.lookups.Load() - before.lookups, cs.reads.Load() - before.reads,
			cs.writes.Load() - before.writes, hasher.Computed() - before.hashes}
		if w, ok := seen[kind]; ok {
			require.Equal(t, w, got, "%s: every attempt of a kind does the same work", kind)
		}
		seen[kind] = got
	}
	t.Logf("work per attempt (lookups, reads, writes, hashes): %+v", seen)
	wrong := seen["wrong"]
	require.Equal(t, work{lookups: 1, reads: 3, writes: 1, hashes: 1}, wrong,
		"a wrong password: the lookup, the reservation (its one commit), the credential, the hash, the settlement's read")
	for _, kind := range []string{"unknown", "locked"} {
		w := seen[kind]
		require.Equal(t, wrong.lookups, w.lookups, "%s: name lookups", kind)
		require.Equal(t, wrong.hashes, w.hashes, "%s: password hashes", kind)
		require.Equal(t, wrong.reads, w.reads, "%s: store reads", kind)
		require.Zero(t, w.writes, "%s: store writes of its own", kind)
	}
	// The wrong passwords are still audited, through the summary: each
	// came from a source of its own, so each is in full.
	require.NoError(t, e.Audit.Sync())
	failedWanda := 0
	require.NoError(t, audit.Scan(e.Store, 1, func(en store.AuditEntry) (bool, error) {
		if en.Type == "user.login" && en.Target == "user:"+wanda.ID && en.Result == "failed" {
			failedWanda++
		}
		return true, nil
	}))
	require.Equal(t, 5, failedWanda, "one entry per wrong password")
}

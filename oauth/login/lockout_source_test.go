package login_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
)

// from is a password grant's actor from the client address src.
func from(src string) login.Actor { return change.Actor{Name: "client:lerian", Source: src} }

// TestLockoutOnDemandPerSource: five wrong passwords from one source no
// longer keep the owner out. The source that failed is throttled on that
// account (429 with Retry-After, nothing checked); the right password
// from any other source passes; an IPv6 client counts as its /64; an
// unknown username is throttled the same way, so a 429 does not tell
// whether it exists.
func TestLockoutOnDemandPerSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{LockoutAttempts: 5, LockoutDuration: directory.Duration{Duration: 15 * time.Minute}})
	ctx := context.Background()
	u := e.User(t, "olga")
	attacker, owner := from("198.51.100.7"), from("203.0.113.9")
	for range 5 {
		_, err := e.SignIn.Login(ctx, attacker, "olga", []byte("wrong-password-guess"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
	_, err := e.SignIn.Login(ctx, attacker, "olga", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrThrottled, "the source that failed five times is refused, even the right password")
	require.Equal(t, api.ErrRateLimited, api.FaultOf(err))
	var th *login.Throttled
	require.True(t, errors.As(err, &th))
	require.Greater(t, th.RetryAfter, time.Duration(0))
	require.LessOrEqual(t, th.RetryAfter, 15*time.Minute)

	_, err = e.SignIn.Login(ctx, owner, "olga", []byte(u.Password))
	require.NoError(t, err, "the right password from a source that has not failed is not refused")
	_, err = e.SignIn.Login(ctx, owner, "olga@example.com", []byte(u.Password))
	require.NoError(t, err, "nor by address")

	// IPv6: the /64 is one source, another /64 another.
	for i := range 5 {
		_, err := e.SignIn.Login(ctx, from(fmt.Sprintf("2001:db8:1:2::%x", i+1)), "olga", []byte("wrong-password-guess"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
	_, err = e.SignIn.Login(ctx, from("2001:db8:1:2:ffff::1"), "olga", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrThrottled, "another address of the same /64 is the same source")
	_, err = e.SignIn.Login(ctx, from("2001:db8:1:3::1"), "olga", []byte(u.Password))
	require.NoError(t, err, "the next /64 is another source")

	// An unknown name: the same five, then the same 429.
	for range 5 {
		_, err := e.SignIn.Login(ctx, attacker, "nobody-here", []byte("wrong-password-guess"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
	_, err = e.SignIn.Login(ctx, attacker, "NOBODY-HERE", []byte("wrong-password-guess"))
	require.ErrorIs(t, err, login.ErrThrottled, "an unknown name is throttled like an account")

	e.Clock.Add(15 * time.Minute)
	_, err = e.SignIn.Login(ctx, attacker, "olga", []byte(u.Password))
	require.NoError(t, err, "the throttle ends after lockout_duration")
}

// TestLockoutAccountBudget: failures spread over many sources (an IPv6
// /48 holds 65,536 /64s) lock the account for everyone only after
// login.AccountFailures in a row; a sign-in that passes before then
// starts the count over.
func TestLockoutAccountBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	u := e.User(t, "petra")
	spread := func(n, round int) {
		t.Helper()
		for i := range n {
			_, err := e.SignIn.Login(ctx, from(fmt.Sprintf("2001:db8:%x:%x::1", round, i)), "petra", []byte("wrong-password-guess"))
			require.ErrorIs(t, err, api.ErrBadLogin)
			require.NotErrorIs(t, err, login.ErrAccountLocked, "failure %d of round %d", i+1, round)
		}
	}
	spread(login.AccountFailures-1, 1)
	_, err := e.SignIn.Login(ctx, from("192.0.2.1"), "petra", []byte(u.Password))
	require.NoError(t, err, "one failure short of the budget: the owner signs in, and the count starts over")

	spread(login.AccountFailures, 2)
	_, err = e.SignIn.Login(ctx, from("192.0.2.1"), "petra", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrAccountLocked, "the account's budget spent from many sources locks it for everyone")
	require.Equal(t, api.ErrBadLogin, api.FaultOf(err), "and reads like a wrong password")
	t.Logf("REPORT failures from %d distinct /64s lock the account; %d from %d do not", login.AccountFailures, login.AccountFailures-1, login.AccountFailures-1)

	e.Clock.Add(16 * time.Minute)
	_, err = e.SignIn.Login(ctx, from("192.0.2.1"), "petra", []byte(u.Password))
	require.NoError(t, err, "for lockout_duration")
}

// TestLockoutPerAccountMode: [identity] lockout = "account" (PCI DSS
// 8.3.4) locks the account for everyone after lockout_attempts failures
// from anywhere: the owner's right password from elsewhere is refused.
func TestLockoutPerAccountMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{Lockout: "account", LockoutAttempts: 10, LockoutDuration: directory.Duration{Duration: 30 * time.Minute}})
	ctx := context.Background()
	u := e.User(t, "quentin")
	for i := range 10 {
		_, err := e.SignIn.Login(ctx, from(fmt.Sprintf("198.51.100.%d", i+1)), "quentin", []byte("wrong-password-guess"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
	_, err := e.SignIn.Login(ctx, from("203.0.113.9"), "quentin", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrAccountLocked)
	e.Clock.Add(29 * time.Minute)
	_, err = e.SignIn.Login(ctx, from("203.0.113.9"), "quentin", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrAccountLocked, "for at least 30 minutes")
	e.Clock.Add(2 * time.Minute)
	_, err = e.SignIn.Login(ctx, from("203.0.113.9"), "quentin", []byte(u.Password))
	require.NoError(t, err)
}

// TestSourceKey: IPv4 addresses count alone, IPv6 by /64, mapped IPv4 as
// IPv4; anything else is its own key.
func TestSourceKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7":             "192.0.2.7",
		"::ffff:192.0.2.7":      "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2::1%eth0":  "2001:db8:1:2::/64",
		"admin-socket pid 4242": "admin-socket pid 4242",
	} {
		require.Equal(t, want, login.SourceKey(in), in)
	}
}

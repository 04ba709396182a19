package directory_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/store"
)

// TestSignInByEmail: an account signs in with its username or its
// address in any case, and the two share one lockout count.
func TestSignInByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{LockoutAttempts: 4, LockoutDuration: directory.Duration{Duration: 15 * time.Minute}})
	ctx := context.Background()
	u, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "maria", Email: "Maria.Silva@Example.com"})
	require.NoError(t, err)
	for _, name := range []string{"maria", "MARIA", "Maria.Silva@Example.com", "maria.silva@example.com", "MARIA.SILVA@EXAMPLE.COM"} {
		got, err := e.SignIn.Login(ctx, admin, name, []byte(u.Password))
		require.NoError(t, err, name)
		require.Equal(t, u.ID, got.ID, name)
	}
	require.Equal(t, e.Service.SignInDirectory().AttemptKey("maria"), e.Service.SignInDirectory().AttemptKey("MARIA.silva@example.com"), "one throttling budget per account")
	require.NotEqual(t, e.Service.SignInDirectory().AttemptKey("maria"), e.Service.SignInDirectory().AttemptKey("other@example.com"))

	// Two wrong guesses by username and two by address from one source
	// throttle that source on the account:
	// naming it two ways does not double the budget.
	for _, name := range []string{"maria", "maria", "maria.silva@example.com", "Maria.Silva@example.com"} {
		_, err := e.SignIn.Login(ctx, admin, name, []byte("wrong-password-guess"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
	_, err = e.SignIn.Login(ctx, admin, "maria.silva@example.com", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrThrottled)
	_, err = e.SignIn.Login(ctx, admin, "maria", []byte(u.Password))
	require.ErrorIs(t, err, login.ErrThrottled)
}

// TestUnknownEmailLooksLikeWrongPassword: an unknown address, an unknown
// username and a wrong password give the same error, byte for byte.
func TestUnknownEmailLooksLikeWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	_, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "nina", Email: "nina@example.com"})
	require.NoError(t, err)
	_, wrong := e.SignIn.Login(ctx, admin, "nina@example.com", []byte("wrong-password-guess"))
	require.ErrorIs(t, wrong, api.ErrBadLogin)
	for _, name := range []string{"nobody@example.com", "NINA@example.org", "nobody", "x@" + strings.Repeat("a", 300)} {
		_, err := e.SignIn.Login(ctx, admin, name, []byte("wrong-password-guess"))
		require.ErrorIs(t, err, api.ErrBadLogin, name)
		require.Equal(t, wrong.Error(), err.Error(), name)
	}
}

// TestSignInNamesUnique: addresses are unique ignoring case, and neither
// a username nor an address may be another account's other name, on
// create and update; the error names the clash.
func TestSignInNamesUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	_, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "olga", Email: "olga@example.com"})
	require.NoError(t, err)
	p, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "paulo@example.com", Email: "paulo@example.com"})
	require.NoError(t, err, "an account may use its own address as its username")
	_, err = e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "rui@example.com", Email: "rui.home@example.com"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, username, email, says string
	}{
		{"address in other case", "olga2", "OLGA@example.com", "another account has this address"},
		{"username is an address", "olga@example.com", "o3@example.com", "another account's e-mail address"},
		{"address is an address", "paulo2", "Paulo@Example.com", "another account has this address"},
		{"address is a username", "rui2", "Rui@Example.com", "another account's username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: tc.username, Email: tc.email})
			require.ErrorIs(t, err, api.ErrExists)
			require.Contains(t, err.Error(), tc.says)
		})
	}
	// Usernames are width-mapped (PRECIS), addresses only case-folded: an
	// address in full-width letters would name rui's account by username.
	_, err = e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "carla", Email: "ｒｕｉ@example.com"})
	require.ErrorIs(t, err, api.ErrInvalidField)
	require.Contains(t, err.Error(), "full-width")
	q, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "quim", Email: "quim@example.com"})
	require.NoError(t, err)
	taken := "OLGA@EXAMPLE.COM"
	_, err = e.Service.Users().UpdateUser(ctx, admin, q.ID, api.UpdateUserRequest{Email: &taken})
	require.ErrorIs(t, err, api.ErrExists)
	require.Contains(t, err.Error(), "another account has this address")
	_, err = e.Service.Users().UpdateUser(ctx, admin, p.ID, api.UpdateUserRequest{Email: &taken})
	require.ErrorIs(t, err, api.ErrExists)
	got, err := e.Service.Users().GetUser(q.ID)
	require.NoError(t, err)
	require.Equal(t, "quim@example.com", got.Email, "a refused update changes nothing")
}

// TestSharedEmailResolved: accounts whose address was shared when
// addresses became unique sign in by username only and are flagged by
// the review; once an admin gives one another address, the next edit of
// the other lifts its mark and its address signs in.
func TestSharedEmailResolved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"sara", "tito"} {
		c, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: name, Email: name + "@example.com", Password: "correct horse battery " + name[:1] + "x"})
		require.NoError(t, err)
		// As the migration to layout 3 leaves them.
		_, err = e.Store.Users().Update(c.ID, func(u store.User) (store.User, error) {
			u.Email, u.EmailShared = "Shared@example.com", true
			return u, nil
		})
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	_, err := e.SignIn.Login(ctx, admin, "shared@example.com", []byte("correct horse battery sx"))
	require.ErrorIs(t, err, api.ErrBadLogin, "a shared address signs nobody in")
	_, err = e.SignIn.Login(ctx, admin, "sara", []byte("correct horse battery sx"))
	require.NoError(t, err, "the username still does")
	rev, err := e.Review.Review(time.Hour)
	require.NoError(t, err)
	flagged := 0
	for _, r := range rev.Users {
		if slices.Contains(r.Flags, api.FlagEmailShared) {
			flagged++
		}
	}
	require.Equal(t, 2, flagged)

	first := "Sara"
	_, err = e.Service.Users().UpdateUser(ctx, admin, ids[1], api.UpdateUserRequest{FirstName: &first})
	require.NoError(t, err)
	u, err := e.Store.Users().Get(ids[1])
	require.NoError(t, err)
	require.True(t, u.EmailShared, "still shared: the mark stays")
	same := "SHARED@example.com"
	_, err = e.Service.Users().UpdateUser(ctx, admin, ids[1], api.UpdateUserRequest{Email: &same})
	require.ErrorIs(t, err, api.ErrExists, "naming the shared address while another holds it")
	require.Contains(t, err.Error(), "other accounts still have this address")

	other := "sara.new@example.com"
	_, err = e.Service.Users().UpdateUser(ctx, admin, ids[0], api.UpdateUserRequest{Email: &other})
	require.NoError(t, err)
	_, err = e.Service.Users().UpdateUser(ctx, admin, ids[1], api.UpdateUserRequest{FirstName: &first})
	require.NoError(t, err)
	got, err := e.SignIn.Login(ctx, admin, "SHARED@example.com", []byte("correct horse battery tx"))
	require.NoError(t, err)
	require.Equal(t, ids[1], got.ID)
	got, err = e.SignIn.Login(ctx, admin, "sara.new@example.com", []byte("correct horse battery sx"))
	require.NoError(t, err)
	require.Equal(t, ids[0], got.ID)
}

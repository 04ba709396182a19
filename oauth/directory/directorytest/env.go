// Package directorytest opens what the tests of the directory and sign-in rooms share:
// a real store in a temporary directory, its audit writer, the permission
// index, the identity service and the sign-in rooms (oauth/login) over
// them, bootstrapped, on a movable clock and with cheap argon2id costs,
// with the access review and the policy applier that read and change
// them. It protects nothing and is never imported by production code.
package directorytest

import (
	"context"
	"crypto/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/oauth/policy"
	"github.com/accessd/accessd/oauth/review"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// Admin is the actor of the admin socket.
var Admin = change.Actor{Name: "uid:0", Source: "admin-socket", Admin: true}

// Env is one test's store, audit writer, index, the directory service
// and the sign-in rooms over it, the review that reads the audit log
// back and the applier of policy files.
type Env struct {
	Store  *store.Store
	Audit  *audit.Log
	Index  *authz.Index
	Clock  *testkit.Clock
	Review *review.Admin
	Apply  *policy.Applier
	Rooms
}

// Rooms are the directory service and the sign-in rooms wired to each
// other as the daemon wires them.
type Rooms struct {
	Service   *directory.Service
	SignIn    *login.SignIn
	Enrolment *login.Enrolment
	Clients   *login.Clients
}

// Wire builds the directory service over st with cfg and the sign-in
// rooms over it, on now, hashing with h.
func Wire(t testing.TB, st *store.Store, al *audit.Log, idx *authz.Index, cfg directory.Config, now func() time.Time, h *credential.Hasher) Rooms {
	t.Helper()
	apps := login.NewClients(st, login.Options{Audit: al, Now: now})
	// The tests' relays and gateways listen on loopback.
	dest, err := delivery.NewDestinations([]string{"127.0.0.0/8", "::1"}, nil)
	require.NoError(t, err)
	svc, err := directory.New(st, cfg, directory.Options{Audit: al, Index: idx, Now: now, Hasher: h, Applications: apps, Destinations: dest})
	require.NoError(t, err)
	signIn, mfa := login.New(st, svc.SignInDirectory(), login.Options{Audit: al, Now: now, Providers: svc.Providers()})
	svc.UseLogin(signIn, mfa)
	return Rooms{Service: svc, SignIn: signIn, Enrolment: mfa, Clients: apps}
}

// Open returns a bootstrapped Env with cfg, hashing with ho (zero Params:
// credential.TestParams), closed when t ends.
func Open(t testing.TB, cfg directory.Config, ho credential.HasherOptions, so ...store.Options) *Env {
	t.Helper()
	if ho.Params == (credential.PasswordParams{}) {
		ho.Params = credential.TestParams()
	}
	key := make([]byte, store.RootKeySize)
	_, _ = rand.Read(key)
	opts := append(so, store.Options{})[0]
	q := audit.NewQueue()
	opts.Audit = q
	st, err := store.Open(t.TempDir(), key, opts)
	require.NoError(t, err)
	al, err := audit.Open(st, q, audit.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { al.Close(); st.Close() })
	c := testkit.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	h, err := credential.NewHasher(ho)
	require.NoError(t, err)
	idx := authz.New()
	r := Wire(t, st, al, idx, cfg, c.Now, h)
	_, _, err = r.Service.Bootstrap(context.Background())
	require.NoError(t, err)
	rev := review.New(st, review.Options{Audit: al, Index: idx, MaxSecretAge: cfg.MaxSecretAge.Duration, Now: c.Now})
	return &Env{Store: st, Audit: al, Index: idx, Clock: c, Review: rev, Apply: policy.NewApplier(st, r.Service.Groups(), c.Now), Rooms: r}
}

// User makes a user through the admin plane with a generated password,
// an e-mail address name@example.com and groups.
func (e *Env) User(t testing.TB, name string, groups ...string) api.CreatedUser {
	t.Helper()
	u, err := e.Service.Users().CreateUser(context.Background(), Admin, api.CreateUserRequest{Username: name, Email: name + "@example.com", Groups: groups})
	require.NoError(t, err)
	return u
}

// EnrolTOTP turns TOTP on for a user through the admin plane, with a
// code oathtool computes at now, and returns its base32 seed.
func EnrolTOTP(t testing.TB, mfa *login.Enrolment, now time.Time, userID string) string {
	t.Helper()
	ctx := context.Background()
	setup, err := mfa.MFASetup(ctx, Admin, userID, api.MFATypeApp)
	require.NoError(t, err)
	code, err := exec.Command("oathtool", "--totp", "-b", "-N", now.UTC().Format("2006-01-02 15:04:05 UTC"), setup.Secret).Output()
	require.NoError(t, err)
	_, err = mfa.MFAEnable(ctx, Admin, userID, api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: strings.TrimSpace(string(code))})
	require.NoError(t, err)
	return setup.Secret
}

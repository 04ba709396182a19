package login_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/login"
)

// modes are the two lockout rules ([identity] lockout), with what
// refuses the right password from the one source that failed
// lockout_attempts times: per source a throttle (429), per account the
// lock (which reads like a wrong password).
var modes = []struct {
	name, lockout string
	refused       error
}{
	{"per source", "", login.ErrThrottled},
	{"per account", "account", login.ErrAccountLocked},
}

// TestLockoutParallelGuesses: twenty parallel wrong passwords from one
// source are checked at most lockout_attempts times, in either mode;
// the refusal ends after lockout_duration, and a clock jump never makes
// it eternal.
func TestLockoutParallelGuesses(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			// One argon2id at a time, each slow (tens of ms: 16 MiB, three
			// passes; ten passes took 150 ms a hash and 2 s for the test's
			// fourteen): all twenty guesses are in flight long before five have
			// been checked, so only the atomic reservation keeps the count at five.
			slow := credential.PasswordParams{MemoryKiB: 16 * 1024, Time: 3, Threads: 1}
			e := directorytest.Open(t, directory.Config{LockoutAttempts: 5, LockoutDuration: directory.Duration{Duration: 15 * time.Minute}, Lockout: m.lockout},
				credential.HasherOptions{Params: slow, MemoryBudget: 16 << 20})
			ctx := context.Background()
			u := e.User(t, "erin")
			bad, locked := attemptAtOnce(t, 20, api.ErrBadLogin, func() error {
				_, err := e.SignIn.Login(ctx, admin, "erin", []byte("wrong-password-guess-1"))
				return err
			})
			require.LessOrEqual(t, bad, int32(5), "at most lockout_attempts guesses may be checked")
			require.Equal(t, int32(20), bad+locked)
			t.Logf("REPORT 20 parallel wrong passwords (%s): %d checked, %d refused", m.name, bad, locked)
			_, err := e.SignIn.Login(ctx, admin, "erin", []byte(u.Password))
			require.ErrorIs(t, err, m.refused, "the right password from the source that failed is refused")
			if m.refused == login.ErrAccountLocked {
				require.Equal(t, api.ErrBadLogin, api.FaultOf(err), "on the wire a lock reads like a wrong password")
			} else {
				require.Equal(t, api.ErrRateLimited, api.FaultOf(err), "a throttled source is answered 429")
			}

			e.Clock.Add(16 * time.Minute)
			_, err = e.SignIn.Login(ctx, admin, "erin", []byte(u.Password))
			require.NoError(t, err, "the refusal ends after lockout_duration")

			// A clock that jumps back does not make a refusal eternal.
			for range 5 {
				_, _ = e.SignIn.Login(ctx, admin, "erin", []byte("wrong-password-guess-2"))
			}
			_, err = e.SignIn.Login(ctx, admin, "erin", []byte(u.Password))
			require.ErrorIs(t, err, m.refused)
			e.Clock.Add(-24 * time.Hour)
			_, err = e.SignIn.Login(ctx, admin, "erin", []byte(u.Password))
			require.NoError(t, err, "a refusal ending further ahead than one lockout period is a clock jump, not a life sentence")
		})
	}
}

func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	e.User(t, "frank")
	_, err1 := e.SignIn.Login(context.Background(), admin, "nobody-here", []byte("whatever-password"))
	_, err2 := e.SignIn.Login(context.Background(), admin, "frank", []byte("whatever-password"))
	require.ErrorIs(t, err1, api.ErrBadLogin)
	require.Equal(t, err1.Error(), err2.Error())
}

func TestMFAWithOathtool(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("oathtool")
	require.NoError(t, err, "oathtool is required (apt-get install oathtool; scripts/test installs it)")
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	u := e.User(t, "ivan", "admin-group")
	setup, err := e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeApp)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(setup.URL, "otpauth://totp/"))
	require.Len(t, setup.RecoveryCodes, 10)
	code := func(at time.Time) string {
		out, err := exec.Command("oathtool", "--totp", "-b", "-N", at.UTC().Format("2006-01-02 15:04:05 UTC"), setup.Secret).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	_, err = e.Enrolment.MFAEnable(ctx, admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp})
	require.ErrorIs(t, err, api.ErrBadPasscode, "enabling needs a verified code first")
	c := code(e.Clock.Now())
	v, err := e.Enrolment.MFAVerify(ctx, admin, u.ID, api.MFAVerifyRequest{Passcode: c, MFAType: api.MFATypeApp})
	require.NoError(t, err)
	require.True(t, v.Verified)
	_, err = e.Enrolment.MFAVerify(ctx, admin, u.ID, api.MFAVerifyRequest{Passcode: c, MFAType: api.MFATypeApp})
	require.ErrorIs(t, err, api.ErrBadPasscode, "a code is accepted once")
	_, err = e.Enrolment.MFAEnable(ctx, admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp})
	require.NoError(t, err)
	st, err := e.Enrolment.MFAStatus(u.ID)
	require.NoError(t, err)
	require.True(t, st.TOTPEnabled)

	e.Clock.Add(30 * time.Second)
	require.NoError(t, e.SignIn.VerifySecondFactor(ctx, admin, u.ID, "", code(e.Clock.Now()), ""))
	require.NoError(t, e.SignIn.VerifySecondFactor(ctx, admin, u.ID, "", "", setup.RecoveryCodes[3]))
	require.ErrorIs(t, e.SignIn.VerifySecondFactor(ctx, admin, u.ID, "", "", setup.RecoveryCodes[3]), api.ErrBadPasscode, "a recovery code works once")

	// Failed codes count toward lockout (per source: the account's
	// second factor is throttled).
	for range 5 {
		_ = e.SignIn.VerifySecondFactor(ctx, admin, u.ID, "", "000000", "")
	}
	require.ErrorIs(t, e.SignIn.VerifySecondFactor(ctx, admin, u.ID, "", code(e.Clock.Now().Add(30*time.Second)), ""), login.ErrThrottled)
	_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeSMS)
	require.ErrorIs(t, err, api.ErrInvalidField)
}

// TestAbandonedAttemptsDoNotLockForever: sign-ins whose client hung up
// before the check still count, and the refusal they cause ends like
// any other (a review found the account locked for good).
func TestAbandonedAttemptsDoNotLockForever(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, directory.Config{LockoutAttempts: 5, LockoutDuration: directory.Duration{Duration: 15 * time.Minute}, Lockout: m.lockout})
			u := e.User(t, "judy")
			gone, cancel := context.WithCancel(context.Background())
			cancel()
			for range 5 {
				_, _ = e.SignIn.Login(gone, admin, "judy", []byte("guess-while-hanging-up"))
			}
			_, err := e.SignIn.Login(context.Background(), admin, "judy", []byte(u.Password))
			require.ErrorIs(t, err, m.refused, "abandoned attempts count as failures")
			e.Clock.Add(16 * time.Minute)
			_, err = e.SignIn.Login(context.Background(), admin, "judy", []byte(u.Password))
			require.NoError(t, err, "and their refusal ends")
		})
	}
}

// TestPasswordDoesNotResetSecondFactorFailures: with MFA on, passing the
// password must not clear the failures of the second factor, or an
// attacker with the password could guess codes for ever. Per account
// the account locks; per source the codes are throttled per account.
func TestPasswordDoesNotResetSecondFactorFailures(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, directory.Config{LockoutAttempts: 5, Lockout: m.lockout})
			ctx := context.Background()
			u := e.User(t, "kim")
			setup, err := e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeApp)
			require.NoError(t, err)
			code, err := exec.Command("oathtool", "--totp", "-b", "-N", e.Clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"), setup.Secret).Output()
			require.NoError(t, err)
			_, err = e.Enrolment.MFAEnable(ctx, admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: strings.TrimSpace(string(code))})
			require.NoError(t, err)
			for i := range 20 {
				_, err := e.SignIn.Login(ctx, admin, "kim", []byte(u.Password))
				if errors.Is(err, m.refused) {
					require.Greater(t, i, 0)
					return
				}
				require.NoError(t, err)
				for range 2 {
					err := e.SignIn.VerifySecondFactor(ctx, admin, u.ID, "", "000000", "")
					if errors.Is(err, m.refused) {
						require.Greater(t, i, 0)
						return
					}
				}
			}
			require.FailNow(t, "40 wrong codes interleaved with right passwords were never refused")
		})
	}
}

// TestClockJumpLockout: a refusal ends after lockout_duration when the
// clock runs forward (even by a year), and does not become eternal when
// the clock jumps back after it began, nor when it jumps back while
// failures are being counted; in both modes.
func TestClockJumpLockout(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, directory.Config{Lockout: m.lockout})
			ctx := context.Background()
			u := e.User(t, "clocky")
			lock := func() {
				t.Helper()
				for range 5 {
					_, _ = e.SignIn.Login(ctx, admin, "clocky", []byte("wrong-password-guess"))
				}
				_, err := e.SignIn.Login(ctx, admin, "clocky", []byte(u.Password))
				require.ErrorIs(t, err, m.refused)
			}
			tryLogin := func(what string) {
				t.Helper()
				_, err := e.SignIn.Login(ctx, admin, "clocky", []byte(u.Password))
				require.NoError(t, err, what)
			}

			lock()
			e.Clock.Add(365 * 24 * time.Hour)
			tryLogin("a year forward ends the refusal")

			lock()
			e.Clock.Add(-365 * 24 * time.Hour)
			tryLogin("a year back does not make the refusal last a year")

			lock()
			e.Clock.Add(-20 * time.Minute) // the refusal now ends 35 min ahead: more than one lockout period
			tryLogin("a refusal ending further ahead than lockout_duration is a clock jump")

			// Failures counted, then the clock jumps back: the count still
			// reaches the limit, and that refusal ends on time.
			for range 3 {
				_, _ = e.SignIn.Login(ctx, admin, "clocky", []byte("wrong-password-guess"))
			}
			e.Clock.Add(-48 * time.Hour)
			for range 2 {
				_, _ = e.SignIn.Login(ctx, admin, "clocky", []byte("wrong-password-guess"))
			}
			_, err := e.SignIn.Login(ctx, admin, "clocky", []byte(u.Password))
			require.ErrorIs(t, err, m.refused, "failures before a backward jump still count")
			e.Clock.Add(16 * time.Minute)
			tryLogin("and that refusal ends after lockout_duration")
		})
	}
}

package login_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
)

// attemptAtOnce makes n attempts in parallel, each expected to be refused
// either after its check (with checkedErr) or as locked, and counts both.
func attemptAtOnce(t *testing.T, n int, checkedErr error, attempt func() error) (checked, locked int32) {
	t.Helper()
	var c, l atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := attempt()
			switch {
			case errors.Is(err, login.ErrAccountLocked), errors.Is(err, login.ErrThrottled):
				l.Add(1)
			case errors.Is(err, checkedErr):
				c.Add(1)
			default:
				assert.Fail(t, "unexpected answer", "%v", err)
			}
		})
	}
	wg.Wait()
	return c.Load(), l.Load()
}

// TestLockoutParallelCodes is TestLockoutParallelGuesses for second
// factors: twenty wrong TOTP codes at once are checked at most five
// times before the account locks, and then even the right code waits.
func TestLockoutParallelCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{LockoutAttempts: 5, LockoutDuration: directory.Duration{Duration: 15 * time.Minute}})
	ctx := context.Background()
	u := e.User(t, "quinn")
	setup, err := e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeApp)
	require.NoError(t, err)
	code := func() string {
		out, err := exec.Command("oathtool", "--totp", "-b", "-N", e.Clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"), setup.Secret).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	_, err = e.Enrolment.MFAEnable(ctx, admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: code()})
	require.NoError(t, err)
	e.Clock.Add(30 * time.Second)
	right := code()
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	checked, locked := attemptAtOnce(t, 20, api.ErrBadPasscode, func() error {
		return e.SignIn.VerifySecondFactor(ctx, admin, u.ID, api.MFATypeApp, wrong, "")
	})
	require.LessOrEqual(t, checked, int32(5), "no more wrong codes checked than the lockout allows")
	require.Equal(t, int32(20), checked+locked)
	// Second factors are throttled per account (only a holder of the
	// password gets here): 429 with Retry-After, the account itself not
	// locked.
	err = e.SignIn.VerifySecondFactor(ctx, admin, u.ID, api.MFATypeApp, right, "")
	require.ErrorIs(t, err, login.ErrThrottled, "throttled: even the right code waits")
	require.Equal(t, api.ErrRateLimited, api.FaultOf(err))
	t.Logf("REPORT 20 parallel wrong codes: %d checked, %d refused as locked", checked, locked)
}

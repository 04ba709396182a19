package identity_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
)

// TestLockoutParallelCodes is TestLockoutParallelGuesses for second
// factors: twenty wrong TOTP codes at once are checked at most five
// times before the account locks, and then even the right code waits.
func TestLockoutParallelCodes(t *testing.T) {
	e := newEnv(t, identity.Config{LockoutAttempts: 5, LockoutDuration: identity.Duration{Duration: 15 * time.Minute}})
	ctx := context.Background()
	u := e.user(t, "quinn")
	setup, err := e.svc.MFASetup(ctx, admin, u.ID, api.MFATypeApp)
	require.NoError(t, err)
	code := func() string {
		out, err := exec.Command("oathtool", "--totp", "-b", "-N", e.clock.now().UTC().Format("2006-01-02 15:04:05 UTC"), setup.Secret).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	_, err = e.svc.MFAEnable(ctx, admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: code()})
	require.NoError(t, err)
	e.clock.add(30 * time.Second)
	right := code()
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	var checked, locked atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := e.svc.VerifySecondFactor(ctx, admin, u.ID, api.MFATypeApp, wrong, "")
			switch {
			case errors.Is(err, identity.ErrAccountLocked):
				locked.Add(1)
			case errors.Is(err, api.ErrBadPasscode):
				checked.Add(1)
			default:
				t.Errorf("unexpected answer: %v", err)
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, checked.Load(), int32(5), "no more wrong codes checked than the lockout allows")
	require.Equal(t, int32(20), checked.Load()+locked.Load())
	require.ErrorIs(t, e.svc.VerifySecondFactor(ctx, admin, u.ID, api.MFATypeApp, right, ""), identity.ErrAccountLocked, "locked: even the right code waits")
	t.Logf("REPORT 20 parallel wrong codes: %d checked, %d refused as locked", checked.Load(), locked.Load())
}

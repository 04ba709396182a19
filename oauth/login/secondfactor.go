package login

import (
	"context"
	"fmt"
	"slices"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// checkTOTP verifies a code under the lockout rules and records the step
// it used, so the same code is never accepted twice.
func (s *room) checkTOTP(ctx context.Context, a Actor, u store.User, passcode, typ string) (store.Credential, error) {
	now := s.now()
	if err := s.reserve(ctx, a, factorAttempt(u.ID), typ, now); err != nil {
		return store.Credential{}, err
	}
	settled := false
	defer func() {
		if !settled { // an early return: the attempt counts as failed
			_ = s.settle(a, factorAttempt(u.ID), typ, failed, now.UTC())
		}
	}()
	c, err := s.st.Credentials().Get(u.ID)
	if err != nil {
		return c, storeErr("get credential", err)
	}
	var step int64
	verr := fmt.Errorf("identity: %w: no TOTP seed; run setup first", api.ErrBadPasscode)
	if len(c.TOTPSeed) > 0 {
		seed, err := s.st.Credentials().OpenTOTPSeed(c)
		if err != nil {
			return c, storeErr("open TOTP seed", err)
		}
		step, verr = credential.VerifyTOTP(seed, passcode, now, c.TOTPLastStep)
		clear(seed)
	}
	if verr == nil {
		// Record the step in the same transaction as the success, and
		// only if no concurrent check took it first.
		err = s.st.Update(func(tx *store.Tx) error {
			cur, err := tx.Credentials().Put(u.ID, func(cur store.Credential, _ bool) (store.Credential, error) {
				if cur.TOTPLastStep >= step {
					return cur, fmt.Errorf("identity: %w: this code was already used", api.ErrBadPasscode)
				}
				cur.TOTPLastStep, cur.TOTPVerified = step, true
				return cur, nil
			})
			c = cur
			return err
		})
		if err != nil {
			verr = err
		}
	}
	o := failed
	if verr == nil {
		o = passed
	}
	settled = true
	if err := s.settle(a, factorAttempt(u.ID), typ, o, now.UTC()); err != nil {
		return c, storeErr("record MFA attempt", err)
	}
	return c, verr
}

// VerifySecondFactor checks a TOTP code, a code sent by e-mail or SMS
// (mfaType "email", "sms"; "" means "app"), or consumes a recovery code,
// for a sign-in that passed its password (the MFA step of the password
// grant). Failures count toward lockout like wrong passwords.
func (s *SignIn) VerifySecondFactor(ctx context.Context, a Actor, userID, mfaType, passcode, recoveryCode string) error {
	u, c, err := s.r.dir.UserCredential(userID)
	if err != nil {
		return err
	}
	if !c.SecondFactor() {
		// The challenge was opened because a factor was due; one switched
		// off meanwhile must not make any code pass.
		return fmt.Errorf("identity: %w: no second factor is enabled any more; sign in again", api.ErrBadPasscode)
	}
	if mfaType == "" {
		mfaType = api.MFATypeApp
	}
	if recoveryCode == "" && !factorOn(c, mfaType) {
		return fmt.Errorf("identity: %w: mfaType %q is not on for this user; use one of %v", api.ErrBadPasscode, mfaType, enabledTypes(c))
	}
	if recoveryCode == "" && mfaType != api.MFATypeApp {
		_, err := s.r.checkCode(ctx, a, u, mfaType, purposeLogin, passcode, "mfa.login", nil)
		return err
	}
	if recoveryCode == "" {
		_, err := s.r.checkTOTP(ctx, a, u, passcode, "mfa.login")
		return err
	}
	now := s.r.now()
	if err := s.r.reserve(ctx, a, factorAttempt(u.ID), "mfa.recovery_code", now); err != nil {
		return err
	}
	settled := false
	defer func() {
		if !settled {
			_ = s.r.settle(a, factorAttempt(u.ID), "mfa.recovery_code", failed, now.UTC())
		}
	}()
	used := false
	err = s.r.st.Update(func(tx *store.Tx) error {
		used = false
		_, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			if i, ok := credential.MatchRecoveryCode(recoveryCode, c.RecoveryCodeHashes, s.r.st); ok {
				c.RecoveryCodeHashes = slices.Delete(slices.Clone(c.RecoveryCodeHashes), i, i+1)
				used = true
			}
			return c, nil
		})
		return err
	})
	if err != nil {
		return storeErr("use recovery code", err)
	}
	o := failed
	if used {
		o = passed
	}
	settled = true
	if err := s.r.settle(a, factorAttempt(u.ID), "mfa.recovery_code", o, now.UTC()); err != nil {
		return storeErr("record MFA attempt", err)
	}
	if !used {
		return fmt.Errorf("identity: %w: wrong or already used recovery code", api.ErrBadPasscode)
	}
	return nil
}

// SendLoginCode sends a code by e-mail or SMS for a sign-in that passed
// its password (POST /v1/login/mfa/challenge), to the user's own enrolled
// address or number: the caller names only the factor.
func (s *SignIn) SendLoginCode(ctx context.Context, a Actor, userID, mfaType string) error {
	if mfaType != api.MFATypeEmail && mfaType != api.MFATypeSMS {
		return invalid("mfaType must be \"email\" or \"sms\"; an \"app\" code comes from the authenticator")
	}
	u, c, err := s.r.dir.UserCredential(userID)
	if err != nil {
		return err
	}
	if !factorOn(c, mfaType) {
		return invalid("mfaType %q is not on for this user; use one of %v", mfaType, enabledTypes(c))
	}
	return s.r.sendCode(ctx, a, u, mfaType, purposeLogin)
}

package login

import (
	"context"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// recoveryCodeCount is how many recovery codes a TOTP setup makes.
const recoveryCodeCount = 10

func mfaView(c store.Credential) api.MFAStatus {
	v := api.MFAStatus{Enabled: c.SecondFactor(), TOTPEnabled: c.TOTPEnabled, EmailEnabled: c.EmailEnabled,
		SMSEnabled: c.SMSEnabled, Methods: enabledTypes(c)}
	if v.Enabled {
		v.PreferredType = c.MFAPreferred
		if v.PreferredType == "" || !factorOn(c, v.PreferredType) {
			v.PreferredType = v.Methods[0]
		}
	}
	return v
}

// enabledTypes lists the factors that are on, TOTP first.
func enabledTypes(c store.Credential) []string {
	out := []string{}
	for _, t := range []string{api.MFATypeApp, api.MFATypeEmail, api.MFATypeSMS} {
		if factorOn(c, t) {
			out = append(out, t)
		}
	}
	return out
}

func factorOn(c store.Credential, typ string) bool {
	switch typ {
	case api.MFATypeApp:
		return c.TOTPEnabled
	case api.MFATypeEmail:
		return c.EmailEnabled
	case api.MFATypeSMS:
		return c.SMSEnabled
	}
	return false
}

func checkMFAType(t string) error {
	switch t {
	case api.MFATypeApp, api.MFATypeEmail, api.MFATypeSMS:
		return nil
	case "":
		return missing("mfaType")
	}
	return invalid("mfaType must be \"app\", \"email\" or \"sms\"")
}

// setVerified marks a delivered factor's address or number as proven.
func setVerified(typ string) func(*store.Credential) {
	return func(c *store.Credential) {
		if typ == api.MFATypeEmail {
			c.EmailVerified = true
		} else {
			c.SMSVerified = true
		}
	}
}

// MFAStatus reports a user's second factors.
func (s *Enrolment) MFAStatus(idOrName string) (api.MFAStatus, error) {
	_, c, err := s.r.dir.UserCredential(idOrName)
	return mfaView(c), err
}

// MFASetup starts TOTP enrolment: a new seed (sealed in the store) and
// ten recovery codes (stored hashed), returned once. The factor is not
// on until a code from it was verified and MFAEnable ran.
func (s *Enrolment) MFASetup(ctx context.Context, a Actor, idOrName, mfaType string) (api.MFASetup, error) {
	var out api.MFASetup
	if err := checkMFAType(mfaType); err != nil {
		return out, err
	}
	u, c, err := s.r.dir.UserCredential(idOrName)
	if err != nil {
		return out, err
	}
	if c.SecondFactor() {
		if err := s.r.stepUp(ctx, a, "enrol another second factor"); err != nil {
			return out, err
		}
	}
	if mfaType != api.MFATypeApp {
		return s.setupDelivered(ctx, a, u, c, mfaType)
	}
	if c.TOTPEnabled {
		return out, fmt.Errorf("identity: %w: TOTP is already on for this user; disable it first to enrol a new device", api.ErrExists)
	}
	seed, b32, url, err := credential.NewTOTP(s.r.issuer, u.Username, s.r.rand)
	if err != nil {
		return out, err
	}
	defer clear(seed)
	codes, hashes, err := credential.NewRecoveryCodes(s.r.rand, recoveryCodeCount, s.r.st)
	if err != nil {
		return out, err
	}
	err = s.r.st.Update(func(tx *store.Tx) error {
		sealed, err := tx.Credentials().SealTOTPSeed(u.ID, seed)
		if err != nil {
			return err
		}
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			c.ID, c.TOTPSeed, c.TOTPVerified, c.TOTPLastStep, c.RecoveryCodeHashes = u.ID, sealed, false, 0, hashes
			return c, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.r.entry(a, "mfa.setup", "user:"+u.ID, "ok", map[string]string{"mfaType": mfaType}))
	})
	if err != nil {
		return out, storeErr("set up MFA", err)
	}
	return api.MFASetup{MFAType: mfaType, Secret: b32, URL: url, RecoveryCodes: codes}, nil
}

// setupDelivered starts enrolment of the e-mail or SMS factor: a code
// goes to the user's own address or number, and the factor can be
// enabled once it came back (MFAVerify or MFAEnable with the code).
func (s *Enrolment) setupDelivered(ctx context.Context, a Actor, u store.User, c store.Credential, typ string) (api.MFASetup, error) {
	if factorOn(c, typ) {
		return api.MFASetup{}, fmt.Errorf("identity: %w: mfaType %q is already on for this user; disable MFA first to enrol again", api.ErrExists, typ)
	}
	if _, _, err := destination(u, typ); err != nil {
		return api.MFASetup{}, err
	}
	err := s.r.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			c.ID = u.ID
			if typ == api.MFATypeEmail {
				c.EmailVerified = false
			} else {
				c.SMSVerified = false
			}
			return c, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.r.entry(a, "mfa.setup", "user:"+u.ID, "ok", map[string]string{"mfaType": typ}))
	})
	if err != nil {
		return api.MFASetup{}, storeErr("set up MFA", err)
	}
	if err := s.r.sendCode(ctx, a, u, typ, purposeEnrol); err != nil {
		return api.MFASetup{}, err
	}
	return api.MFASetup{MFAType: typ, RecoveryCodes: []string{}}, nil
}

// MFAVerify checks a code from the authenticator during enrolment.
func (s *Enrolment) MFAVerify(ctx context.Context, a Actor, idOrName string, req api.MFAVerifyRequest) (api.MFAVerified, error) {
	if err := checkMFAType(req.MFAType); err != nil {
		return api.MFAVerified{}, err
	}
	u, _, err := s.r.dir.UserCredential(idOrName)
	if err != nil {
		return api.MFAVerified{}, err
	}
	if req.MFAType != api.MFATypeApp {
		_, err = s.r.checkCode(ctx, a, u, req.MFAType, purposeEnrol, req.Passcode, "mfa.verify", setVerified(req.MFAType))
	} else {
		_, err = s.r.checkTOTP(ctx, a, u, req.Passcode, "mfa.verify")
	}
	if err != nil {
		return api.MFAVerified{}, err
	}
	return api.MFAVerified{Verified: true}, nil
}

// MFAEnable turns TOTP on once a code from the new seed was verified (in
// MFAVerify, or here with Passcode).
func (s *Enrolment) MFAEnable(ctx context.Context, a Actor, idOrName string, req api.MFAEnableRequest) (api.MFAEnabled, error) {
	if err := checkMFAType(req.MFAType); err != nil {
		return api.MFAEnabled{}, err
	}
	u, c, err := s.r.dir.UserCredential(idOrName)
	if err != nil {
		return api.MFAEnabled{}, err
	}
	if c.SecondFactor() {
		if err := s.r.stepUp(ctx, a, "turn on another second factor"); err != nil {
			return api.MFAEnabled{}, err
		}
	}
	if req.MFAType != api.MFATypeApp {
		return s.enableDelivered(ctx, a, u, req)
	}
	if req.Passcode != "" {
		if c, err = s.r.checkTOTP(ctx, a, u, req.Passcode, "mfa.verify"); err != nil {
			return api.MFAEnabled{}, err
		}
	}
	if !c.TOTPVerified {
		return api.MFAEnabled{}, fmt.Errorf("identity: %w: verify a code from the authenticator first (mfa verify), so enabling cannot lock you out", api.ErrBadPasscode)
	}
	err = s.r.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			if !c.TOTPVerified || len(c.TOTPSeed) == 0 { // a setup ran since the check above
				return c, fmt.Errorf("identity: %w: verify a code from the authenticator first (mfa verify)", api.ErrBadPasscode)
			}
			c.TOTPEnabled = true
			c.FactorsChangedAt = s.r.now().UTC()
			if c.MFAPreferred == "" {
				c.MFAPreferred = api.MFATypeApp
			}
			return c, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.r.entry(a, "mfa.enable", "user:"+u.ID, "ok", map[string]string{"mfaType": req.MFAType}))
	})
	if err != nil {
		return api.MFAEnabled{}, storeErr("enable MFA", err)
	}
	return s.enabled(a, u.ID)
}

// enableDelivered turns the e-mail or SMS factor on once a code sent to
// the user's address or number came back.
func (s *Enrolment) enableDelivered(ctx context.Context, a Actor, u store.User, req api.MFAEnableRequest) (api.MFAEnabled, error) {
	typ := req.MFAType
	if req.Passcode != "" {
		if _, err := s.r.checkCode(ctx, a, u, typ, purposeEnrol, req.Passcode, "mfa.verify", setVerified(typ)); err != nil {
			return api.MFAEnabled{}, err
		}
	}
	err := s.r.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			if typ == api.MFATypeEmail && c.EmailVerified {
				c.EmailEnabled = true
			} else if typ == api.MFATypeSMS && c.SMSVerified {
				c.SMSEnabled = true
			} else {
				return c, fmt.Errorf("identity: %w: verify the code that was sent first (mfa verify), so enabling cannot lock you out", api.ErrBadPasscode)
			}
			c.FactorsChangedAt = s.r.now().UTC()
			if c.MFAPreferred == "" {
				c.MFAPreferred = typ
			}
			return c, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(s.r.entry(a, "mfa.enable", "user:"+u.ID, "ok", map[string]string{"mfaType": typ}))
	})
	if err != nil {
		return api.MFAEnabled{}, storeErr("enable MFA", err)
	}
	return s.enabled(a, u.ID)
}

// enabled ends the user's other sessions once a factor is on: a session
// opened with the password alone (perhaps a thief's) must not outlive
// the second factor that now guards the account. The session a enabled
// it from goes on.
func (s *Enrolment) enabled(a Actor, id string) (api.MFAEnabled, error) {
	if err := s.r.dir.EndOtherSessions(a, id); err != nil {
		return api.MFAEnabled{}, fmt.Errorf("identity: the factor is on, but the other sessions were not ended (end them with POST /v1/users/{id}/logout): %w", err)
	}
	return api.MFAEnabled{Enabled: true}, nil
}

// MFADisable removes the user's second factor: seed and recovery codes.
func (s *Enrolment) MFADisable(ctx context.Context, a Actor, idOrName string) (api.MFAStatus, error) {
	u, cur, err := s.r.dir.UserCredential(idOrName)
	if err != nil {
		return api.MFAStatus{}, err
	}
	if cur.SecondFactor() {
		if err := s.r.stepUp(ctx, a, "turn second factors off"); err != nil {
			return api.MFAStatus{}, err
		}
	}
	var c store.Credential
	err = s.r.st.Update(func(tx *store.Tx) error {
		var err error
		c, err = tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
			c.TOTPSeed, c.TOTPEnabled, c.TOTPVerified, c.TOTPLastStep, c.RecoveryCodeHashes, c.MFAPreferred = nil, false, false, 0, nil, ""
			c.EmailEnabled, c.EmailVerified, c.SMSEnabled, c.SMSVerified, c.Codes = false, false, false, false, nil
			c.FactorsChangedAt = s.r.now().UTC()
			return c, nil
		})
		if err != nil {
			return err
		}
		return tx.Audit().Stage(s.r.entry(a, "mfa.disable", "user:"+u.ID, "ok", nil))
	})
	return mfaView(c), storeErr("disable MFA", err)
}

// MFAPreferred sets the factor offered first.
func (s *Enrolment) MFAPreferred(ctx context.Context, a Actor, idOrName, mfaType string) (api.MFAPreferred, error) {
	if err := checkMFAType(mfaType); err != nil {
		return api.MFAPreferred{}, err
	}
	u, c, err := s.r.dir.UserCredential(idOrName)
	if err != nil {
		return api.MFAPreferred{}, err
	}
	if !factorOn(c, mfaType) {
		return api.MFAPreferred{}, invalid("mfaType %q is not enabled for this user", mfaType)
	}
	if err := s.r.stepUp(ctx, a, "change the preferred second factor"); err != nil {
		return api.MFAPreferred{}, err
	}
	_, err = s.r.st.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
		c.MFAPreferred = mfaType
		return c, nil
	})
	return api.MFAPreferred{PreferredType: mfaType}, storeErr("set preferred MFA", err)
}

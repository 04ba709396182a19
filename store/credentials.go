package store

import (
	"fmt"
	"time"
)

// Credential holds what a user proves themselves with, apart from the
// user record admins edit: the password hash (an argon2id PHC string made
// by oauth/directory, re-made here when its cost parameters rise) and the
// second factors. Its ID is the user's ID.
type Credential struct {
	ID                 string    `json:"id"`
	PasswordHash       string    `json:"passwordHash,omitempty"`
	PasswordChangedAt  time.Time `json:"passwordChangedAt"`
	MustChangePassword bool      `json:"mustChangePassword,omitempty"`
	// TOTPSeed is sealed to the credential record and FieldTOTPSeed.
	TOTPSeed    Sealed `json:"totpSeed,omitempty"`
	TOTPEnabled bool   `json:"totpEnabled,omitempty"`
	// TOTPVerified is set once a code from a new seed was checked, so
	// enabling cannot lock out a user whose app never got the seed.
	TOTPVerified bool `json:"totpVerified,omitempty"`
	// TOTPLastStep is the last accepted time step: a code is accepted once.
	TOTPLastStep       int64    `json:"totpLastStep,omitempty"`
	RecoveryCodeHashes [][]byte `json:"recoveryCodeHashes,omitempty"`
	MFAPreferred       string   `json:"mfaPreferred,omitempty"`
	// EmailEnabled and SMSEnabled are the delivered second factors;
	// each Verified is set once a code sent to the user's address or
	// number came back, so enabling cannot lock out a user who never
	// received one.
	EmailEnabled  bool `json:"emailEnabled,omitempty"`
	EmailVerified bool `json:"emailVerified,omitempty"`
	SMSEnabled    bool `json:"smsEnabled,omitempty"`
	SMSVerified   bool `json:"smsVerified,omitempty"`
	// Codes are the open one-time codes sent by e-mail or SMS, by
	// mfaType: only a keyed hash of each, never the code.
	Codes map[string]OneTimeCode `json:"codes,omitempty"`
	// FactorsChangedAt is when a second factor was last turned on (or
	// all were removed): a sign-in before it proves none of the factors
	// the user has now.
	FactorsChangedAt time.Time `json:"factorsChangedAt,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	Version          uint64    `json:"version"`
}

// OneTimeCode is a code delivered by e-mail or SMS, kept as the store's
// keyed hash (Store.Sum) of the code bound to its user, type and
// destination. It is removed when used, and refused after ExpiresAt or
// after too many wrong guesses.
type OneTimeCode struct {
	Hash      []byte    `json:"hash"`
	Purpose   string    `json:"purpose"` // "enrol" or "login"
	ExpiresAt time.Time `json:"expiresAt"`
	Failures  int       `json:"failures,omitempty"`
}

// SecondFactor reports whether any second factor is on.
func (c Credential) SecondFactor() bool { return c.TOTPEnabled || c.EmailEnabled || c.SMSEnabled }

// FieldTOTPSeed is the field name a user's TOTP seed is sealed under.
const FieldTOTPSeed = "totpSeed"

// CredentialRecordKey is the record key credential fields are sealed to.
func CredentialRecordKey(userID string) string { return "cred/" + userID }

func stampTable[T any](s *Store, name, prefix string, id func(*T) string, version func(*T) *uint64, stamp func(*T, time.Time, bool)) *table[T] {
	return &table[T]{
		s: s, name: name, prefix: []byte(prefix),
		id: id, version: version,
		indexes: func(*T) [][]byte { return nil },
		create: func(r *T, now time.Time) error {
			if err := checkKeyPart(name+" id", id(r)); err != nil {
				return err
			}
			stamp(r, now, true)
			return nil
		},
		update: func(_, r *T, now time.Time) error { stamp(r, now, false); return nil },
	}
}

func credentialTable(s *Store) *table[Credential] {
	t := stampTable(s, "credential", "cred/",
		func(c *Credential) string { return c.ID },
		func(c *Credential) *uint64 { return &c.Version },
		func(c *Credential, now time.Time, created bool) {
			if created && c.CreatedAt.IsZero() {
				c.CreatedAt = now
			}
			c.UpdatedAt = now
		})
	t.sealed = []sealedField[Credential]{{name: FieldTOTPSeed,
		recordKey: func(c *Credential) string { return CredentialRecordKey(c.ID) },
		field:     func(c *Credential) *Sealed { return &c.TOTPSeed }}}
	return t
}

// CredentialRepo stores users' credentials by user ID.
type CredentialRepo struct {
	t *table[Credential]
	x exec
}

// Get returns the credential of a user, or ErrNotFound.
func (r *CredentialRepo) Get(userID string) (Credential, error) { return r.t.doGet(r.x, userID) }

// Put creates or replaces a user's credential with the result of fn,
// which receives the stored one (found false and a zero value when there
// is none). It has Update's retry contract: no side effects in fn.
func (r *CredentialRepo) Put(userID string, fn func(old Credential, found bool) (Credential, error)) (Credential, error) {
	return r.t.doUpsert(r.x, userID, fn)
}

// Delete removes a user's credential; ErrNotFound if absent.
func (r *CredentialRepo) Delete(userID string) error { return r.t.doDelete(r.x, userID) }

// SealTOTPSeed seals a TOTP seed for the user, ready for TOTPSeed. The
// caller clears seed.
func (r *CredentialRepo) SealTOTPSeed(userID string, seed []byte) (Sealed, error) {
	return r.t.s.Barrier().SealField(CredentialRecordKey(userID), FieldTOTPSeed, seed)
}

// OpenTOTPSeed opens c.TOTPSeed. The caller clears the result.
func (r *CredentialRepo) OpenTOTPSeed(c Credential) ([]byte, error) {
	if len(c.TOTPSeed) == 0 {
		return nil, fmt.Errorf("store: open field %q: no seed: %w", FieldTOTPSeed, ErrNotFound)
	}
	return r.t.s.Barrier().OpenField(CredentialRecordKey(c.ID), FieldTOTPSeed, c.TOTPSeed)
}

// LoginState is the hot, machine-written state of a user or application:
// failed sign-ins, lockout and last use. It is its own small record so a
// sign-in or a token grant never rewrites the record an admin edits. Its
// ID is the user's or application's ID.
type LoginState struct {
	ID           string    `json:"id"`
	FailedLogins int       `json:"failedLogins,omitempty"`
	LockedUntil  time.Time `json:"lockedUntil"`
	LastLoginAt  time.Time `json:"lastLoginAt"`
	// ReservedAt is when the last attempt was reserved, by the Identity
	// layer's clock: an attempt never settled counts as failed after a
	// while instead of holding the count up for ever.
	ReservedAt time.Time `json:"reservedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	Version    uint64    `json:"version"`
}

func loginTable(s *Store) *table[LoginState] {
	return stampTable(s, "login state", "login/",
		func(l *LoginState) string { return l.ID },
		func(l *LoginState) *uint64 { return &l.Version },
		func(l *LoginState, now time.Time, _ bool) { l.UpdatedAt = now })
}

// LoginStateRepo stores login state by user or application ID.
type LoginStateRepo struct {
	t *table[LoginState]
	x exec
}

// Get returns the login state of a user or application; a zero state
// (with ID set) when none was recorded yet.
func (r *LoginStateRepo) Get(id string) (LoginState, error) {
	l, err := r.t.doGet(r.x, id)
	if isNotFound(err) {
		return LoginState{ID: id}, nil
	}
	return l, err
}

// Put creates or replaces the login state with the result of fn, which
// receives the stored state (a zero one with ID set when there is none).
// The read and the write are one transaction, retried on conflict, so a
// counter kept here is atomic: twenty concurrent increments yield twenty.
func (r *LoginStateRepo) Put(id string, fn func(old LoginState) (LoginState, error)) (LoginState, error) {
	return r.t.doUpsert(r.x, id, func(old LoginState, found bool) (LoginState, error) {
		if !found {
			old.ID = id
		}
		return fn(old)
	})
}

// Delete removes the login state; absent is not an error.
func (r *LoginStateRepo) Delete(id string) error {
	err := r.t.doDelete(r.x, id)
	if isNotFound(err) {
		return nil
	}
	return err
}

package login

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// SignInResult is a checked first factor.
type SignInResult struct {
	User store.User
	// SecondFactorDue is true when the user has MFA on: no token may be
	// issued until VerifySecondFactor passes.
	SecondFactorDue bool
	// MFATypes lists the factors that are on, when one is due.
	MFATypes []string
}

// SignIn is Login for the password grant: it also says whether a second
// factor is due, as decided by the same credential read that checked the
// password. username is a username or an e-mail address (Directory.FindSignIn); an
// unknown address is answered like an unknown username.
func (s *SignIn) SignIn(ctx context.Context, a Actor, username string, password []byte) (SignInResult, error) {
	fail := errBadLogin()
	u, err := s.r.dir.FindSignIn(username)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return SignInResult{}, storeErr("sign in", err)
		}
		// An unknown name is throttled per source like an account, in
		// memory only, so that a 429 never tells whether it exists.
		if s.r.sources != nil {
			if err := s.r.sources.reserve(unknownKey(username, a), s.r.now()); err != nil {
				s.r.refuse(ctx, a.Source, map[string]string{"username": username, "result": "throttled"},
					s.r.entry(a, "user.login", "unknown-user", "throttled", map[string]string{"username": username}))
				return SignInResult{}, err
			}
		}
		// The reads and the hash of a checked wrong password, against
		// an ID no account has; nothing is written.
		_, _ = s.r.st.Logins().Get(noAccount)
		s.r.idleCheck(ctx, noAccount, password)
		// Summarised per source and name; the name stays in the sealed
		// store (the journal's copy carries no detail).
		s.r.refuse(ctx, a.Source, map[string]string{"username": username, "result": "failed"},
			s.r.entry(a, "user.login", "unknown-user", "failed", map[string]string{"username": username}))
		return SignInResult{}, fail
	}
	c, err := s.r.checkPassword(ctx, a, u.ID, password, false)
	if err != nil {
		return SignInResult{}, err
	}
	if u.Disabled {
		s.r.record(ctx, s.r.entry(a, "user.login", "user:"+u.ID, "disabled", nil))
		return SignInResult{}, fail
	}
	return SignInResult{User: u, SecondFactorDue: c.SecondFactor(), MFATypes: enabledTypes(c)}, nil
}

// Login checks a username and password for the password grant. It never
// says whether the username exists: an unknown one costs the same
// argon2id work and gets the same error. A disabled user is refused the
// same way, after the password was checked. It does not tell whether a
// second factor is due; the password grant uses SignIn.
func (s *SignIn) Login(ctx context.Context, a Actor, username string, password []byte) (store.User, error) {
	si, err := s.SignIn(ctx, a, username, password)
	return si.User, err
}

// checkPassword verifies a user's password under the lockout rules and
// re-hashes it when its parameters are below the current ones. It returns
// the user's credential. With allowMustChange false a one-time password
// is refused with api.ErrMustChange after it verified.
func (s *room) checkPassword(ctx context.Context, a Actor, id string, password []byte, allowMustChange bool) (store.Credential, error) {
	now := s.now()
	at := passwordAttempt(a, id)
	if err := s.reserve(ctx, a, at, "user.login", now); err != nil {
		if errors.Is(err, ErrAccountLocked) {
			// A locked account answers like a wrong password, so it
			// costs as much: the reservation read above, then the
			// check's reads and hash, without the writes.
			s.idleCheck(ctx, id, password)
		}
		return store.Credential{}, err
	}
	settled := false
	defer func() {
		if !settled { // an early return (hang-up, store error): the attempt counts as failed
			_ = s.settle(a, at, "user.login", failed, now.UTC())
		}
	}()
	c, err := s.st.Credentials().Get(id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return c, storeErr("get credential", err)
	}
	var verr error
	if c.PasswordHash == "" {
		verr = credential.ErrPasswordMismatch
		_ = s.hasher.DummyVerify(ctx, password)
	} else {
		verr = s.hasher.Verify(ctx, c.PasswordHash, password)
	}
	if ctx.Err() != nil {
		return c, ctx.Err()
	}
	o := failed
	switch {
	case verr == nil && c.SecondFactor():
		o = partial // the second factor settles the count
	case verr == nil:
		o = passed
	}
	settled = true
	var serr error
	if o == failed {
		serr = s.settleWrongPassword(ctx, a, at, "user.login", now.UTC())
	} else {
		serr = s.settle(a, at, "user.login", o, now.UTC())
	}
	if serr != nil {
		return c, storeErr("record sign-in", serr)
	}
	if verr != nil {
		return c, errBadLogin()
	}
	if s.hasher.NeedsRehash(c.PasswordHash) {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			old := c.PasswordHash
			_, err = s.st.Credentials().Put(id, func(cur store.Credential, _ bool) (store.Credential, error) {
				if cur.PasswordHash == old { // unless it was changed meanwhile
					cur.PasswordHash = h
				}
				return cur, nil
			})
			if err != nil {
				s.log.Warn("password re-hash not stored; kept the old hash", "event", "identity.rehash_error", "err", err)
			}
		}
	}
	if c.MustChangePassword && !allowMustChange {
		return c, fmt.Errorf("identity: %w: this is a one-time password; set a new one with PATCH /v1/users/{id}/update-password (oldPassword, newPassword) first", api.ErrMustChange)
	}
	return c, nil
}

// noAccount is the ID the reads of a sign-in with an unknown name are
// made under: the nil UUID, which no record has (record IDs are random
// version 4 UUIDs).
const noAccount = "00000000-0000-0000-0000-000000000000"

// idleCheck does what a checked wrong password does after its
// reservation, less the writes: it reads id's credential, verifies
// password against its hash (a dummy one when there is none) and reads
// id's login state as the settlement would. A locked account and an
// unknown name call it, so that the three refusals that read alike
// (unknown, wrong, locked) cost the same hash and the same reads
// (TestSignInEqualWork); the wrong password's one commit (its
// reservation) is the difference left, and the bench measures it.
func (s *room) idleCheck(ctx context.Context, id string, password []byte) {
	c, _ := s.st.Credentials().Get(id)
	if c.PasswordHash == "" {
		_ = s.hasher.DummyVerify(ctx, password)
	} else {
		_ = s.hasher.Verify(ctx, c.PasswordHash, password)
	}
	_, _ = s.st.Logins().Get(id)
}

// abandonAfter is how long a reservation may be in flight: far longer
// than an argon2id verification. Older ones were abandoned (a crash, a
// bug) and count as failures whose lock has its normal end.
const abandonAfter = time.Minute

// attempt is what a reserved attempt counts against: the account (id)
// and, in per-source mode, its key in the ledger.
type attempt struct{ id, key string }

// passwordAttempt is a password check of account id by a, counted per
// (account, source).
func passwordAttempt(a Actor, id string) attempt {
	return attempt{id: id, key: "id:" + id + "\x00" + SourceKey(a.Source)}
}

// factorAttempt is a second-factor check of account id, counted per
// account whatever its source: only someone who had the password (or a
// bearer of the account) gets this far, so throttling it per account
// lets nobody else keep the owner out, and a thief with the password
// gets lockout_attempts guesses per lockout_duration, not one budget
// per source.
func factorAttempt(id string) attempt { return attempt{id: id, key: "id:" + id + "\x00second-factor"} }

// unknownKey is the ledger key of a sign-in with a name that finds no
// account: canonical as the directory's AttemptKey makes it (case and
// form folded), computed without a read.
func unknownKey(name string, a Actor) string {
	if c, err := credential.CanonicalUsername(name); err == nil {
		name = c
	} else {
		name = store.FoldEmail(name)
	}
	return "name:" + name + "\x00" + SourceKey(a.Source)
}

// reserve takes one attempt at for a, audited as typ if it is refused.
// In per-source mode the (account, source) ledger counts it first: a
// source that failed lockout_attempts times is throttled (429,
// Retry-After) before anything is read. Then the account's failed count
// goes up atomically before the secret is checked, so that N parallel
// guesses see N distinct counts and at most accountLimit of them are
// ever checked before the account locks. Every reservation is settled
// (settle) on every path; one that was not is treated as a failure
// after abandonAfter, so a lock never outlives its duration.
func (s *room) reserve(ctx context.Context, a Actor, at attempt, typ string, now time.Time) error {
	if s.sources != nil {
		if err := s.sources.reserve(at.key, now); err != nil {
			// Summarised per source and account, like every refusal
			// anyone can repeat at will.
			s.refuse(ctx, a.Source, map[string]string{"account": at.id, "result": "throttled"},
				s.entry(a, typ, "user:"+at.id, "throttled", nil))
			return err
		}
	}
	err := s.st.Update(func(tx *store.Tx) error {
		_, err := tx.Logins().Put(at.id, func(l store.LoginState) (store.LoginState, error) {
			return s.reserveState(l, now)
		})
		return err
	})
	if err != nil && s.sources != nil {
		s.sources.settle(at.key, partial) // not checked: not counted against the source
	}
	if errors.Is(err, errLockedNow) {
		s.refuse(ctx, a.Source, map[string]string{"account": at.id, "result": "locked"},
			s.entry(a, typ, "user:"+at.id, "locked", nil))
		return lockedErr{errBadLogin()}
	}
	return err
}

// reserveState is l with one more attempt reserved at now, or
// errLockedNow when the account is locked.
func (s *room) reserveState(l store.LoginState, now time.Time) (store.LoginState, error) {
	if l.FailedLogins >= s.accountLimit && l.LockedUntil.IsZero() && (now.Sub(l.ReservedAt) > abandonAfter || now.Before(l.ReservedAt)) {
		l.LockedUntil = l.ReservedAt.Add(s.lockout)
		l.FailedLogins = 0
	}
	if lockedFor(l, now, s.lockout) || l.FailedLogins >= s.accountLimit {
		return l, errLockedNow
	}
	if !l.LockedUntil.IsZero() {
		l.LockedUntil = time.Time{} // an expired lock starts a fresh count
	}
	l.FailedLogins++
	l.ReservedAt = now
	return l, nil
}

// outcome is how a reserved attempt ended.
type outcome int

const (
	failed  outcome = iota // the secret was wrong (or the check did not finish): the reservation stays a failure
	passed                 // the sign-in is complete: the count starts over
	partial                // a first factor passed, a second is still due: the reservation is undone, the count of earlier failures kept
)

// settle records the outcome of a reserved attempt and its audit entry
// in one transaction. A failure keeps the reservation's count and locks
// the account when it reaches the limit.
func (s *room) settle(a Actor, at attempt, typ string, o outcome, now time.Time) error {
	if s.sources != nil {
		s.sources.settle(at.key, o)
	}
	id := at.id
	return s.st.Update(func(tx *store.Tx) error {
		locked := false
		_, err := tx.Logins().Put(id, func(l store.LoginState) (store.LoginState, error) {
			switch o {
			case passed:
				l.FailedLogins, l.LockedUntil, l.LastLoginAt = 0, time.Time{}, now
			case partial:
				l.FailedLogins = max(l.FailedLogins-1, 0)
			default:
				if l.FailedLogins >= s.accountLimit {
					l.FailedLogins, l.LockedUntil, locked = 0, now.Add(s.lockout), true
				}
			}
			return l, nil
		})
		if err != nil {
			return err
		}
		result := map[outcome]string{failed: "failed", passed: "ok", partial: "second-factor-due"}[o]
		var detail map[string]string
		if locked {
			detail = map[string]string{"locked": "true", "lockedFor": s.lockout.String()}
		}
		return tx.Audit().Stage(s.entry(a, typ, "user:"+id, result, detail))
	})
}

// settleWrongPassword settles a wrong password. Its reservation already
// counted the failure durably, so unless it is the one that locks the
// account nothing more is committed: the audit entry goes through the
// refusal summary, as an unknown name's and a locked account's do. A
// wrong password thus costs one commit more than those two, not two
// (the bench measures what that one commit leaves).
func (s *room) settleWrongPassword(ctx context.Context, a Actor, at attempt, typ string, now time.Time) error {
	l, err := s.st.Logins().Get(at.id)
	if err != nil {
		return err
	}
	if l.FailedLogins >= s.accountLimit {
		return s.settle(a, at, typ, failed, now)
	}
	if s.sources != nil {
		s.sources.settle(at.key, failed)
	}
	s.refuse(ctx, a.Source, map[string]string{"account": at.id, "result": "failed"},
		s.entry(a, typ, "user:"+at.id, "failed", nil))
	return nil
}

// errBadLogin is what every refused sign-in says: a wrong password, an
// unknown user and a locked account read the same, so that the answer
// never tells whether a username exists.
func errBadLogin() error {
	return fmt.Errorf("identity: %w: wrong username or password, or too many failed attempts (wait %s and try again)", api.ErrBadLogin, "a few minutes")
}

// errLockedNow is returned inside a login-state transaction to abort it.
var errLockedNow = errors.New("locked")

// ErrAccountLocked is wrapped, beside api.ErrBadLogin, in the error of an
// attempt refused because the account is locked. It is not a catalogued
// fault: on the wire a locked account answers exactly like a wrong
// password, so that nobody learns which usernames exist; the audit log
// and the caller's code can still tell.
var ErrAccountLocked = errors.New("account locked")

// lockedErr is a refusal because the account is locked: its text is
// exactly a wrong password's, so the wire answer does not say the account
// exists, while errors.Is still finds ErrAccountLocked for the audit log
// and metrics.
type lockedErr struct{ bad error }

func (e lockedErr) Error() string   { return e.bad.Error() }
func (e lockedErr) Unwrap() []error { return []error{e.bad, ErrAccountLocked} }

// lockedFor reports whether l is locked at now. A lock that ends further
// ahead than one lockout period can only come from a clock that jumped
// back; it is treated as expired rather than eternal.
func lockedFor(l store.LoginState, now time.Time, lockout time.Duration) bool {
	return now.Before(l.LockedUntil) && l.LockedUntil.Sub(now) <= lockout
}

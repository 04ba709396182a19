package directory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// What the sign-in room (oauth/login) and the directory ask of each
// other. The sign-in room reads the directory through its
// login.Directory, implemented here; the directory asks the sign-in room
// for the step-up and password checks its own operations need and for
// the rules on moving a delivered factor's address (SignInRules,
// FactorRules, given by UseLogin), and tells the application table that
// authenticates clients when an application changes (Applications).

// SignInRules are the sign-in room's checks a directory operation needs:
// the step-up before a credential operation on the data plane, and the
// old password of a password change.
type SignInRules interface {
	StepUp(ctx context.Context, a change.Actor, op string) error
	CheckPassword(ctx context.Context, a change.Actor, id string, password []byte) error
}

// FactorRules decide what changing a user's e-mail address or phone
// number does to a delivered second factor that sends codes there:
// MayRedirectFactors before UpdateUser's transaction, ResetMovedFactors
// inside it.
type FactorRules interface {
	MayRedirectFactors(ctx context.Context, a change.Actor, idOrName string, req api.UpdateUserRequest) (bool, error)
	ResetMovedFactors(tx *store.Tx, a change.Actor, cur store.User, req api.UpdateUserRequest, allowed bool) error
}

// ApplicationCache is the in-memory table that authenticates
// applications, kept current by the index refreshes.
type ApplicationCache interface {
	Set(a store.Application)
	Forget(id string)
}

// UseLogin gives the service the sign-in room's rules. It is called once,
// before the service serves: the sign-in room is built over the service,
// so it cannot be an Option of New.
func (s *Service) UseLogin(r SignInRules, f FactorRules) {
	s.c.signIn, s.c.factors = r, f
}

// errNoSignIn answers a credential operation of a service that was never
// given the sign-in room (an offline ceremony): it cannot decide the
// step-up, so it refuses.
func errNoSignIn() error {
	return fmt.Errorf("identity: %w: the sign-in checks are not available here; use `accessctl` on the host", api.ErrStepUp)
}

// StepUp is SignInRules.StepUp; the admin socket (and accessd itself)
// needs none, so an offline ceremony's service never asks.
func (s serviceRules) StepUp(ctx context.Context, a change.Actor, op string) error {
	if a.Admin {
		return nil
	}
	if s.c.signIn == nil {
		return errNoSignIn()
	}
	return s.c.signIn.StepUp(ctx, a, op)
}

// CheckPassword is SignInRules.CheckPassword.
func (s serviceRules) CheckPassword(ctx context.Context, a change.Actor, id string, password []byte) error {
	if s.c.signIn == nil {
		return errNoSignIn()
	}
	return s.c.signIn.CheckPassword(ctx, a, id, password)
}

// MayRedirectFactors is FactorRules.MayRedirectFactors.
func (s serviceRules) MayRedirectFactors(ctx context.Context, a change.Actor, idOrName string, req api.UpdateUserRequest) (bool, error) {
	if req.Email == nil && req.PhoneNumber == nil {
		return true, nil // no address moves: nothing to decide
	}
	if s.c.factors == nil {
		return false, errNoSignIn()
	}
	return s.c.factors.MayRedirectFactors(ctx, a, idOrName, req)
}

// ResetMovedFactors is FactorRules.ResetMovedFactors.
func (s serviceRules) ResetMovedFactors(tx *store.Tx, a change.Actor, cur store.User, req api.UpdateUserRequest, allowed bool) error {
	if req.Email == nil && req.PhoneNumber == nil {
		return nil
	}
	if s.c.factors == nil {
		return errNoSignIn()
	}
	return s.c.factors.ResetMovedFactors(tx, a, cur, req, allowed)
}

// SignInDirectory is the directory as the sign-in room reads it (its
// login.Directory): accounts by sign-in name, credentials, the tenant
// scope of a caller, the shared hasher and the lockout policy.
type SignInDirectory struct{ c *core }

// SignInDirectory is what the sign-in room (oauth/login) is built over.
func (s *Service) SignInDirectory() *SignInDirectory { return &SignInDirectory{s.c} }

// FindSignIn resolves a sign-in name to its account (findSignIn).
func (s *SignInDirectory) FindSignIn(name string) (store.User, error) {
	return findSignIn(s.c.st.Users(), name)
}

// UserCredential reads a user's record by user ID or username, and its
// credential.
func (s *SignInDirectory) UserCredential(idOrName string) (store.User, store.Credential, error) {
	var u store.User
	var c store.Credential
	err := s.c.st.View(func(tx *store.Tx) error {
		var err error
		if u, err = s.c.lookupUser(tx, idOrName); err != nil {
			return err
		}
		c, err = tx.Credentials().Get(u.ID)
		return err
	})
	return u, c, storeErr("get credential", err)
}

// UserFor finds a user by ID or username inside tx as the caller a may
// see it: another tenant's user is not found.
func (s *SignInDirectory) UserFor(tx *store.Tx, a change.Actor, idOrName string) (store.User, error) {
	return (&Tenants{s.c}).lookupUserIn(tx, a, idOrName)
}

// Hasher is the password hasher, shared with the sign-in room so that
// its bound on concurrent argon2id work holds for both.
func (s *SignInDirectory) Hasher() *credential.Hasher { return s.c.hasher }

// DefaultCredentialOpsMaxAge is how recent a sign-in with a second factor
// must be for a credential operation on the data plane.
const DefaultCredentialOpsMaxAge = 15 * time.Minute

// SignInPolicy is the configured lockout (attempts within the lockout
// duration) and credential_ops_max_age.
func (s *SignInDirectory) SignInPolicy() (attempts int, lockout, stepUpMaxAge time.Duration) {
	return s.c.cfg.LockoutAttempts, s.c.cfg.LockoutDuration.Duration, s.c.cfg.CredentialOpsMaxAge.Duration
}

// EndOtherSessions ends every session of user id but the one a acts in
// (when it is the user's own): what enabling a second factor does.
func (s *SignInDirectory) EndOtherSessions(a change.Actor, id string) error {
	return s.c.endOtherSessions(a, id, "user.sessions_ended")
}

// LockoutMode is [identity] lockout: "source" (also when unset) or
// "account".
func (s *SignInDirectory) LockoutMode() string {
	if s.c.cfg.Lockout == "" {
		return "source"
	}
	return s.c.cfg.Lockout
}

// clients tells the application table of every application the index
// refreshes load or change; without one (an offline ceremony) nothing
// authenticates clients and there is nothing to tell.
type clients struct{ cache ApplicationCache }

func (c clients) set(a store.Application) {
	if c.cache != nil {
		c.cache.Set(a)
	}
}

func (c clients) forget(id string) {
	if c.cache != nil {
		c.cache.Forget(id)
	}
}

// epochs is the in-memory table of subjects whose tokens have a
// not-before (forced logout, disable): small, since most users never had
// one, and read on every decision without touching the store.
type epochs struct {
	mu       sync.RWMutex
	notBefor map[string]time.Time
	keep     map[string]string // the session a not-before spares (store.User.LogoutKeep)
	disabled map[string]bool
}

func (e *epochs) set(id string, t time.Time, keep string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.notBefor == nil {
		e.notBefor, e.keep, e.disabled = map[string]time.Time{}, map[string]string{}, map[string]bool{}
	}
	if !t.IsZero() {
		e.notBefor[id] = t
	}
	if keep != "" {
		e.keep[id] = keep
	} else {
		delete(e.keep, id)
	}
	if disabled {
		e.disabled[id] = true
	} else {
		delete(e.disabled, id)
	}
}

func (e *epochs) forget(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.notBefor, id)
	delete(e.keep, id)
	delete(e.disabled, id)
}

// TokenValid reports whether a token issued at iat to the subject with
// record ID id may still be honoured: the subject exists in the index
// (checked by the caller), is not disabled, and the token is not older
// than the subject's last forced logout, unless it belongs to the
// session sid that logout spared (EndOtherSessions). Tokens carry whole
// seconds, so a token issued in the same second as the logout is refused
// too.
func (s *Service) TokenValid(id, sid string, iat time.Time) bool {
	s.c.epochs.mu.RLock()
	defer s.c.epochs.mu.RUnlock()
	if s.c.epochs.disabled[id] {
		return false
	}
	nb, ok := s.c.epochs.notBefor[id]
	return !ok || iat.After(nb.Truncate(time.Second)) || (sid != "" && sid == s.c.epochs.keep[id])
}

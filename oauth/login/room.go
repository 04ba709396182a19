package login

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Actor is oauth/change's: who signs in, enrols or asks for a code.
type Actor = change.Actor

// Directory is all the sign-in room asks of the users directory
// (oauth/directory): finding the account a name signs in to, a user's
// record with its credential, the user as a caller may see it (its
// tenant's scope), the shared password hasher and the lockout policy.
type Directory interface {
	// FindSignIn resolves a sign-in name (username or e-mail address)
	// to its account, at the same cost whether or not it exists;
	// store.ErrNotFound when there is none.
	FindSignIn(name string) (store.User, error)
	// AttemptKey is the key a sign-in attempt with name is throttled
	// under (the account's, so its username and address share one).
	AttemptKey(name string) string
	// UserCredential reads a user by ID or username, and its credential.
	UserCredential(idOrName string) (store.User, store.Credential, error)
	// UserFor finds a user by ID or username inside tx as the caller a
	// may see it (another tenant's user is not found).
	UserFor(tx *store.Tx, a Actor, idOrName string) (store.User, error)
	// Hasher is the password hasher the directory sets passwords with,
	// shared so that its bound on concurrent argon2id work holds.
	Hasher() *credential.Hasher
	// SignInPolicy is the configured lockout (attempts within lockout)
	// and how recent a second-factor sign-in must be for a step-up.
	SignInPolicy() (attempts int, lockout, stepUpMaxAge time.Duration)
	// LockoutMode is LockoutPerSource or LockoutPerAccount.
	LockoutMode() string
	// EndOtherSessions ends every session of user id (tokens, refresh
	// families, open MFA challenges) but the one a acts in, when it is
	// the user's own.
	EndOtherSessions(a Actor, id string) error
}

// Sender chooses the provider that delivers a code and sends through it
// (oauth/delivery's Providers).
type Sender interface {
	ProviderFor(clientID, category string) (store.Provider, error)
	Send(ctx context.Context, p store.Provider, to, subject, body string) (string, error)
}

// Options are the rooms' collaborators besides the store and the
// directory.
type Options struct {
	Audit change.Recorder
	Log   *slog.Logger
	// Now and Rand are injected for tests; nil means time.Now and
	// crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// Issuer names the TOTP issuer shown in authenticator apps and the
	// sender of delivered codes; "" means "accessd".
	Issuer string
	// Providers deliver the e-mail and SMS codes.
	Providers Sender
	// Refusals audits failed sign-ins of unknown usernames, the first
	// few of each source and username a minute in full and the rest in
	// a summary (change.Repeats); nil: each in full through Audit.
	Refusals Refusals
}

// Refusals audits refusals anyone may repeat at will; change.Repeats
// provides it.
type Refusals interface {
	Refuse(ctx context.Context, subject string, key map[string]string, e store.AuditEntry)
}

func (o *Options) defaults() {
	if o.Issuer == "" {
		o.Issuer = "accessd"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
}

func (o *Options) auditor() auditor {
	return auditor{audit: o.Audit, refusals: o.Refusals, log: o.Log, now: o.Now}
}

// auditor stamps the audit entries of the rooms and writes those of
// attempts that change nothing.
type auditor struct {
	audit    change.Recorder
	refusals Refusals // nil: every refusal in full through audit
	log      *slog.Logger
	now      func() time.Time
}

// entry makes an audit entry for an attempt by a.
func (r auditor) entry(a Actor, typ, target, result string, detail map[string]string) store.AuditEntry {
	return a.Entry(r.now(), typ, target, result, detail)
}

// record writes an audit entry that is not part of a change (a refusal,
// a failed sign-in), durably, before the caller answers.
func (r auditor) record(ctx context.Context, e store.AuditEntry) {
	change.Record(ctx, r.audit, r.log, e)
}

// refuse audits a refusal anyone may repeat at will, counted against
// subject and told apart by key (Refusals).
func (r auditor) refuse(ctx context.Context, subject string, key map[string]string, e store.AuditEntry) {
	if r.refusals == nil {
		r.record(ctx, e)
		return
	}
	r.refusals.Refuse(ctx, subject, key, e)
}

// room is what the sign-in and the enrolment share: the attempt ledger
// (reserve, settle) under the lockout, the checks of a password, a TOTP
// code and a delivered code, the sending of codes with its resend
// limits, and the step-up rule.
type room struct {
	auditor
	st        roomStore
	dir       Directory
	hasher    *credential.Hasher
	rand      io.Reader
	issuer    string
	providers Sender
	sends     sendLimits // resends of e-mail and SMS codes (otp.go)

	attempts              int
	lockout, stepUpMaxAge time.Duration
	// accountLimit is how many failures in a row lock the account for
	// everyone: attempts per account, AccountFailures per source.
	accountLimit int
	// sources counts failures per (account, source) and per (account,
	// second factor) in per-source mode; nil per account.
	sources *ledger
}

// SignIn is the sign-in: a password under the account's lockout, then
// the second factor (a TOTP code, a delivered code or a recovery code),
// and the step-up rule for credential operations.
type SignIn struct{ r *room }

// Enrolment is a user's second factors: setting them up, verifying and
// enabling them, turning them off, the preferred one, and what moving
// the address of a delivered factor does to it.
type Enrolment struct{ r *room }

// txRunner runs the rooms' changes and reads as transactions; *store.Store provides it.
type txRunner interface {
	Update(fn func(tx *store.Tx) error) error
	View(fn func(tx *store.Tx) error) error
}

// roomStore is what the sign-in and the enrolment ask of the store; *store.Store provides it.
type roomStore interface {
	txRunner
	Credentials() *store.CredentialRepo
	Logins() *store.LoginStateRepo
	credential.Pepper
}

var _ roomStore = (*store.Store)(nil)

// New returns the sign-in and the enrolment over st and dir; they share
// the lockout and the resend limits.
func New(st roomStore, dir Directory, opt Options) (*SignIn, *Enrolment) {
	opt.defaults()
	r := &room{auditor: opt.auditor(), st: st, dir: dir, hasher: dir.Hasher(), rand: opt.Rand, issuer: opt.Issuer, providers: opt.Providers}
	r.attempts, r.lockout, r.stepUpMaxAge = dir.SignInPolicy()
	r.accountLimit = r.attempts
	if dir.LockoutMode() != LockoutPerAccount {
		r.accountLimit = max(AccountFailures, r.attempts)
		r.sources = newLedger(r.attempts, r.lockout)
	}
	return &SignIn{r}, &Enrolment{r}
}

// AttemptKey is the key under which a sign-in attempt with this name is
// throttled: the directory's (the account's when the name resolves).
func (s *SignIn) AttemptKey(name string) string { return s.r.dir.AttemptKey(name) }

// CheckPassword verifies a user's current password under the lockout
// rules, as a password change asks for the old one: a one-time password
// passes.
func (s *SignIn) CheckPassword(ctx context.Context, a Actor, id string, password []byte) error {
	_, err := s.r.checkPassword(ctx, a, id, password, true)
	return err
}

// StepUp decides whether a may do the credential operation op ("create
// an application", …) on the data plane now (stepup.go).
func (s *SignIn) StepUp(ctx context.Context, a Actor, op string) error { return s.r.stepUp(ctx, a, op) }

// storeErr maps the store's sentinel errors onto the catalogue, naming
// what was looked for. The rooms answer as the identity API they serve.
func storeErr(what string, err error) error { return change.StoreErr("identity", what, err) }

func invalid(format string, args ...any) error { return change.Invalid("identity", format, args...) }

func missing(fields ...string) error { return change.Missing("identity", fields...) }

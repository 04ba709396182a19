package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Indexer is what the service tells about every change of groups and
// memberships, so decisions never read the store: the permission index
// of oauth/authz.
type Indexer interface {
	SetGroup(name string, perms []api.Permission)
	DeleteGroup(name string)
	SetSubject(id string, groups []string)
	DeleteSubject(id string)
	// Effective lists a subject's permissions through all its groups.
	Effective(id string) []api.Permission
	// Allowed decides one permission for a subject, as a decision would.
	Allowed(id, product, resource, action string) bool
}

// Service is the Identity layer: every rule about users, groups,
// applications and their credentials, over the store. Each change is one
// store transaction with its audit entry staged in it, then applied to
// the permission index.
type Service struct {
	st      *store.Store
	audit   *audit.Log
	index   Indexer
	hasher  *Hasher
	cfg     Config
	memMu   [refreshStripes]sync.Mutex // orders refreshes of the index and epochs (refresh.go)
	issuer  string
	epochs  epochs
	clients clients
	sends   sendLimits // resends of e-mail and SMS codes (otp.go)
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
}

// Options are the service's collaborators besides the store.
type Options struct {
	Audit *audit.Log
	Index Indexer
	Log   *slog.Logger
	// Now and Rand are injected for tests; nil means time.Now and
	// crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// Hasher bounds concurrent argon2id work; nil makes one from the
	// config's password cost.
	Hasher *Hasher
	// Issuer names the TOTP issuer shown in authenticator apps.
	Issuer string
}

// New returns the service. It does not load the index; call LoadIndex.
func New(st *store.Store, cfg Config, opt Options) (*Service, error) {
	def := DefaultConfig()
	if cfg.LockoutAttempts <= 0 {
		cfg.LockoutAttempts = def.LockoutAttempts
	}
	if cfg.LockoutDuration.Duration <= 0 {
		cfg.LockoutDuration = def.LockoutDuration
	}
	if cfg.MaxSecretAge.Duration <= 0 {
		cfg.MaxSecretAge = def.MaxSecretAge
	}
	if cfg.CredentialOpsMaxAge.Duration <= 0 {
		cfg.CredentialOpsMaxAge = def.CredentialOpsMaxAge
	}
	if opt.Issuer == "" {
		opt.Issuer = "accessd"
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Hasher == nil {
		h, err := NewHasher(HasherOptions{Params: cfg.Params(), Rand: opt.Rand})
		if err != nil {
			return nil, err
		}
		opt.Hasher = h
	}
	if cfg.RemoteCredentialOps {
		opt.Log.Warn("[identity] remote_credential_ops no longer does anything and will be refused by the next release; remove it: "+
			"creating applications and rotating secrets on the data plane now needs the permission and a sign-in with a second factor within credential_ops_max_age",
			"event", "config.deprecated", "key", "identity.remote_credential_ops")
	}
	if opt.Audit == nil || opt.Index == nil {
		return nil, errors.New("identity: New needs an audit log and an index")
	}
	return &Service{st: st, audit: opt.Audit, index: opt.Index, hasher: opt.Hasher, cfg: cfg,
		issuer: opt.Issuer, log: opt.Log, now: opt.Now, rand: opt.Rand}, nil
}

// HashingMemory is the most memory password hashing holds at once: the
// hasher's slots times the argon2id memory cost, in bytes.
func (s *Service) HashingMemory() uint64 {
	return uint64(s.hasher.Slots()) * uint64(s.hasher.Params().MemoryKiB) * 1024
}

// HashedWithin reports whether a password was hashed or verified in the
// last d.
func (s *Service) HashedWithin(d time.Duration) bool { return s.hasher.UsedWithin(d) }

// Actor is who asks for a change: recorded in every audit entry.
type Actor struct {
	// Name is "uid:<n>" on the admin socket, "user:<id>" or
	// "app:<clientId>" for a bearer on the data plane.
	Name string
	// Source is "admin-socket" or the client's address.
	Source string
	// Admin is true on the admin plane, where the peer check is the
	// authorization.
	Admin bool
	// SubjectID is the record ID of a bearer's user or application.
	SubjectID string
	// ClientID is the OAuth client the actor comes through: the client
	// of the password grant, a bearer token's azp. It picks the
	// application's default delivery provider; empty means none.
	ClientID string
	// Session is a user bearer's sign-in, as its refresh family
	// recorded it; nil for application tokens, the admin socket, and a
	// session that has ended. Credential operations on the data plane
	// need it (stepup.go).
	Session *Session
}

// Session is what a sign-in proved and when: the time and methods
// (RFC 8176 amr values, "pwd", "otp") of the original sign-in, which a
// refresh carries on and never renews.
type Session struct {
	AuthTime time.Time
	AMR      []string
}

// System is the actor of changes accessd makes itself (init, migration).
var System = Actor{Name: "accessd", Source: "local", Admin: true}

// entry makes an audit entry for a change by a.
func (s *Service) entry(a Actor, typ, target, result string, detail map[string]string) store.AuditEntry {
	return store.AuditEntry{Time: s.now().UTC(), Type: typ, Actor: a.Name, Target: target,
		Result: result, Source: a.Source, Detail: detail}
}

// record writes an audit entry that is not part of a change (a refusal,
// a failed sign-in), durably, before the caller answers.
func (s *Service) record(ctx context.Context, e store.AuditEntry) {
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.Error("audit entry not written", "event", "audit.record_error", "type", e.Type, "err", err)
	}
}

// storeErr maps the store's sentinel errors onto the catalogue, naming
// what was looked for.
func storeErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("identity: %s: %w", what, api.ErrNotFound)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("identity: %s: %w", what, api.ErrExists)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("identity: %s: %w; retry", what, api.ErrConflict)
	case errors.Is(err, store.ErrClosed):
		return fmt.Errorf("identity: %s: %w", what, api.ErrUnavailable)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("identity: %s: %w: %v", what, api.ErrInvalidField, err)
	}
	var f *api.Fault
	if errors.As(err, &f) {
		return err
	}
	return fmt.Errorf("identity: %s: %w", what, err)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("identity: %w: %s", api.ErrInvalidField, fmt.Sprintf(format, args...))
}

func missing(fields ...string) error {
	return fmt.Errorf("identity: %w: %v required", api.ErrMissingRequired, fields)
}

package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"github.com/accessd/accessd/oauth/credential"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Indexer is what the service tells about every change of groups and
// memberships, so decisions never read the store: the permission index
// of oauth/authz.
type Indexer interface {
	SetGroup(name string, perms []authz.Permission)
	DeleteGroup(name string)
	SetSubject(id string, groups []string)
	DeleteSubject(id string)
	// Effective lists a subject's permissions through all its groups.
	Effective(id string) []authz.Permission
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
	hasher  *credential.Hasher
	cfg     Config
	memMu   [refreshStripes]sync.Mutex // orders refreshes of the index and epochs (refresh.go)
	epochs  epochs
	clients clients // the application table that authenticates clients (login_deps.go)
	signIn  SignInRules
	factors FactorRules
	// providers choose and open the relay or gateway a code goes through.
	providers *delivery.Providers
	log       *slog.Logger
	now       func() time.Time
	rand      io.Reader
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
	Hasher *credential.Hasher
	// Applications is told of every application the index loads or
	// changes: oauth/login's table that authenticates clients.
	Applications ApplicationCache
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
		h, err := credential.NewHasher(credential.HasherOptions{Params: cfg.Params(), Rand: opt.Rand})
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
	s := &Service{st: st, audit: opt.Audit, index: opt.Index, hasher: opt.Hasher, cfg: cfg,
		clients: clients{opt.Applications}, log: opt.Log, now: opt.Now, rand: opt.Rand}
	s.providers = delivery.NewProviders(st, delivery.ProviderOptions{Audit: opt.Audit, Directory: s, Log: opt.Log, Now: opt.Now})
	return s, nil
}

// Providers is the administration of the delivery providers the service
// sends its codes through, scoped by this directory's tenants.
func (s *Service) Providers() *delivery.Providers { return s.providers }

// HashingMemory is the most memory password hashing holds at once: the
// hasher's slots times the argon2id memory cost, in bytes.
func (s *Service) HashingMemory() uint64 {
	return uint64(s.hasher.Slots()) * uint64(s.hasher.Params().MemoryKiB) * 1024
}

// HashedWithin reports whether a password was hashed or verified in the
// last d.
func (s *Service) HashedWithin(d time.Duration) bool { return s.hasher.UsedWithin(d) }

// Actor, Session and System are oauth/change's: the rooms share them.
type (
	Actor   = change.Actor
	Session = change.Session
)

// System is the actor of changes accessd makes itself (init, migration).
var System = change.System

// entry makes an audit entry for a change by a.
func (s *Service) entry(a Actor, typ, target, result string, detail map[string]string) store.AuditEntry {
	return a.Entry(s.now(), typ, target, result, detail)
}

// record writes an audit entry that is not part of a change (a refusal,
// a failed sign-in), durably, before the caller answers.
func (s *Service) record(ctx context.Context, e store.AuditEntry) {
	change.Record(ctx, s.audit, s.log, e)
}

// storeErr maps the store's sentinel errors onto the catalogue, naming
// what was looked for.
func storeErr(what string, err error) error { return change.StoreErr("identity", what, err) }

func invalid(format string, args ...any) error { return change.Invalid("identity", format, args...) }

func missing(fields ...string) error { return change.Missing("identity", fields...) }

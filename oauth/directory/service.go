package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
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

// core is what every room of the directory shares: the store, the
// audit writer, the permission index, the hasher, the policy, the clock
// and the copies decisions read (logout epochs, clients). Each change is
// one store transaction with its audit entry staged in it, then applied
// to the permission index (refresh.go).
type core struct {
	st      directoryStore
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

// txRunner runs the rooms' changes and reads as transactions; *store.Store provides it.
type txRunner interface {
	Update(fn func(tx *store.Tx) error) error
	View(fn func(tx *store.Tx) error) error
}

// directoryRepos are the repositories the rooms read outside a transaction; *store.Store provides them.
type directoryRepos interface {
	Users() *store.UserRepo
	Groups() *store.GroupRepo
	Applications() *store.ApplicationRepo
	RefreshFamilies() *store.RefreshFamilyRepo
}

// directoryStore is what the rooms' core asks of the store (and its pepper); *store.Store provides it.
type directoryStore interface {
	txRunner
	directoryRepos
	credential.Pepper
}

// serviceStore adds what New hands on to oauth/delivery's providers; *store.Store provides it.
type serviceStore interface {
	directoryStore
	Providers() *store.ProviderRepo
	NewID() (string, error)
}

var _ serviceStore = (*store.Store)(nil)

// loginRules is what the users' and applications' operations ask of the
// sign-in room: a recent second factor before a credential operation,
// the old password before a new one, and the rules for second factors
// whose destination an update moves. The Service answers them
// (login_deps.go), passing on to the room UseLogin gave it, or refusing
// where there is none (an offline ceremony).
type loginRules interface {
	SignInRules
	FactorRules
}

// serviceRules are the Service's loginRules (login_deps.go): they pass
// on to the room UseLogin gave, or refuse where there is none.
type serviceRules struct{ c *core }

var _ loginRules = serviceRules{}

// Service is the Identity layer: the directory's rooms (users, groups,
// applications, tenants, the Lerian import) over one shared core, and
// what belongs to the whole (bootstrap, loading the index, hashing).
type Service struct {
	c        *core
	users    *Users
	groups   *Groups
	apps     *Applications
	tenants  *Tenants
	importer *Importer
}

// Users manages user accounts: creation, reading, updates, passwords,
// enabling and forced logout.
type Users struct {
	c       *core
	tenants *Tenants
	login   loginRules
}

// Groups manages groups, their permissions and their members.
type Groups struct {
	c       *core
	tenants *Tenants
}

// Applications manages machine-to-machine clients and their secrets.
type Applications struct {
	c       *core
	tenants *Tenants
	login   loginRules
}

// Tenants decides what a caller sees and may confer: its tenant's
// records, the shared catalogue, the permissions it holds itself.
type Tenants struct{ c *core }

// Importer brings a Lerian identity export into the directory.
type Importer struct{ c *core }

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
	// Destinations decides where delivery providers may connect
	// ([delivery] allow_hosts); nil means no allow list.
	Destinations *delivery.Destinations
}

// New returns the service. It does not load the index; call LoadIndex.
func New(st serviceStore, cfg Config, opt Options) (*Service, error) {
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
	if cfg.Lockout == "account" {
		opt.Log.Warn("[identity] lockout = \"account\": lockout_attempts failed sign-ins from anywhere lock an account for everyone, so anyone who knows a username can keep its owner out",
			"event", "config.weaker", "key", "identity.lockout", "attempts", cfg.LockoutAttempts, "duration", cfg.LockoutDuration.Duration.String())
	}
	if opt.Audit == nil || opt.Index == nil {
		return nil, errors.New("identity: New needs an audit log and an index")
	}
	c := &core{st: st, audit: opt.Audit, index: opt.Index, hasher: opt.Hasher, cfg: cfg,
		clients: clients{opt.Applications}, log: opt.Log, now: opt.Now, rand: opt.Rand}
	t := &Tenants{c}
	s := &Service{c: c, tenants: t, groups: &Groups{c, t}, importer: &Importer{c}}
	s.users = &Users{c: c, tenants: t, login: serviceRules{c}}
	s.apps = &Applications{c: c, tenants: t, login: serviceRules{c}}
	c.providers = delivery.NewProviders(st, delivery.ProviderOptions{Audit: opt.Audit, Directory: t, Destinations: opt.Destinations, Log: opt.Log, Now: opt.Now})
	return s, nil
}

// Users is the room of user accounts.
func (s *Service) Users() *Users { return s.users }

// Groups is the room of groups, permissions and members.
func (s *Service) Groups() *Groups { return s.groups }

// Applications is the room of machine-to-machine clients.
func (s *Service) Applications() *Applications { return s.apps }

// Tenants is the room of tenancy and of who may confer what.
func (s *Service) Tenants() *Tenants { return s.tenants }

// Importer is the Lerian import.
func (s *Service) Importer() *Importer { return s.importer }

// Providers is the administration of the delivery providers the service
// sends its codes through, scoped by this directory's tenants.
func (s *Service) Providers() *delivery.Providers { return s.c.providers }

// HashingMemory is the most memory password hashing holds at once: the
// hasher's slots times the argon2id memory cost, in bytes.
func (s *Service) HashingMemory() uint64 {
	return uint64(s.c.hasher.Slots()) * uint64(s.c.hasher.Params().MemoryKiB) * 1024
}

// HashedWithin reports whether a password was hashed or verified in the
// last d.
func (s *Service) HashedWithin(d time.Duration) bool { return s.c.hasher.UsedWithin(d) }

// entry makes an audit entry for a change by a.
func (s *core) entry(a change.Actor, typ, target, result string, detail map[string]string) store.AuditEntry {
	return a.Entry(s.now(), typ, target, result, detail)
}

// record writes an audit entry that is not part of a change (a refusal,
// a failed sign-in), durably, before the caller answers.
func (s *core) record(ctx context.Context, e store.AuditEntry) {
	change.Record(ctx, s.audit, s.log, e)
}

// storeErr maps the store's sentinel errors onto the catalogue, naming
// what was looked for.
func storeErr(what string, err error) error { return change.StoreErr("identity", what, err) }

func invalid(format string, args ...any) error { return change.Invalid("identity", format, args...) }

func missing(fields ...string) error { return change.Missing("identity", fields...) }

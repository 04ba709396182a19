package delivery

import (
	"log/slog"
	"time"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Directory is what provider administration asks of the directory: the
// caller's tenant scope, for the providers every tenant shares and for
// the applications a provider is linked to.
type Directory interface {
	// SharedConfig refuses a caller confined to a tenant.
	SharedConfig(a change.Actor, what string) error
	// LookupAppIn finds an application by ID or client ID among those
	// the caller's tenant sees.
	LookupAppIn(tx *store.Tx, a change.Actor, idOrClientID string) (store.Application, error)
	// MayActOn refuses a caller acting on a subject that holds
	// permissions the caller does not.
	MayActOn(a change.Actor, id string) error
}

// Providers administers the delivery providers (create, update, test,
// defaults per category and per application) and sends through them.
// Each change is one store transaction with its audit entry staged in it.
type Providers struct {
	st      providerStore
	audit   *audit.Log
	dir     Directory
	dest    *Destinations
	limits  *sendLimits
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
}

// ProviderOptions are the providers' collaborators besides the store.
type ProviderOptions struct {
	Audit     *audit.Log
	Directory Directory
	// Destinations decides where providers may connect ([delivery]
	// allow_hosts, the daemon's own addresses); nil means no allow list.
	Destinations *Destinations
	Log          *slog.Logger
	// Now is injected for tests; nil means time.Now.
	Now func() time.Time
}

// providerStore is what the provider administration asks of the store; *store.Store provides it.
type providerStore interface {
	Update(fn func(tx *store.Tx) error) error
	View(fn func(tx *store.Tx) error) error
	Providers() *store.ProviderRepo
	NewID() (string, error)
}

var _ providerStore = (*store.Store)(nil)

// NewProviders returns the provider administration over st.
func NewProviders(st providerStore, opt ProviderOptions) *Providers {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Providers{st: st, audit: opt.Audit, dir: opt.Directory, dest: opt.Destinations,
		limits: &sendLimits{now: opt.Now}, metrics: newMetrics(), log: opt.Log, now: opt.Now}
}

// Metrics are the providers' send counters, for the daemon's registry.
func (s *Providers) Metrics() *Metrics { return s.metrics }

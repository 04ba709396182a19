// Package review is the operator's view over the directory: the access
// review (who holds what, credential age and last use, the flags an
// auditor looks for, machine-to-machine links) and the audit log's
// listing and verification. It only reads, except that a verification is
// itself audited.
//
// Threat model: the answers reveal every account, group and permission,
// so the routes that serve them exist only on the admin socket, whose
// peer check already decided. Nothing here returns a secret: credentials
// appear as ages and last-use times, audit entries as their recorded
// detail (which never holds a password, a code or an address), and a
// verification reports the chain's head for the operator to keep
// elsewhere, so a rewritten log is caught against a copy the store never
// held.
package review

import (
	"log/slog"
	"time"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Effective is what the review asks of the permission index: a
// subject's permissions through all its groups.
type Effective interface {
	Effective(id string) []authz.Permission
}

// Admin answers the access review and the audit listing.
type Admin struct {
	st           reviewStore
	audit        *audit.Log
	index        Effective
	maxSecretAge time.Duration
	log          *slog.Logger
	now          func() time.Time
}

// Options are the review's collaborators besides the store.
type Options struct {
	Audit *audit.Log
	Index Effective
	// MaxSecretAge is the rotation policy: a credential older is stale,
	// and the default age after which an account counts as unused. Zero
	// means the identity default.
	MaxSecretAge time.Duration
	Log          *slog.Logger
	// Now is injected for tests; nil means time.Now.
	Now func() time.Time
}

// reviewStore is the records and the audit chain the review reads; *store.Store provides it.
type reviewStore interface {
	View(fn func(tx *store.Tx) error) error
	AuditLog() *store.AuditLog
}

var _ reviewStore = (*store.Store)(nil)

// New returns the review over st.
func New(st reviewStore, opt Options) *Admin {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxSecretAge <= 0 {
		opt.MaxSecretAge = directory.DefaultConfig().MaxSecretAge.Duration
	}
	return &Admin{st: st, audit: opt.Audit, index: opt.Index, maxSecretAge: opt.MaxSecretAge, log: opt.Log, now: opt.Now}
}

package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/store"
)

// Index is the permission index as the edge asks it: a decision, and the
// listing of what a subject may do in a product.
type Index interface {
	Allowed(id, product, resource, action string) bool
	Permissions(id, product string) map[string][]string
}

// AuditLog is where the edge writes the entries of what it decides
// itself (a refused decision, a key rotation, a backup), and what it
// syncs so an entry a room staged shows in `audit list` at once.
type AuditLog interface {
	change.Recorder
	Sync() error
}

// Refusals audits the refusals anyone may repeat at will (a denied
// decision, a denied Identity route) so that a flood of them costs the
// audit log a bounded number of entries a minute: change.Repeats, which
// writes the first few of each kind in full and counts the rest.
type Refusals interface {
	Refuse(ctx context.Context, subject string, key map[string]string, e store.AuditEntry)
}

// inFull is the Refusals of a plane wired without one: every refusal in
// full through the audit log.
type inFull struct {
	audit change.Recorder
	log   *slog.Logger
}

func (f inFull) Refuse(ctx context.Context, _ string, _ map[string]string, e store.AuditEntry) {
	change.Record(ctx, f.audit, f.log, e)
}

// FieldRotator retires the field-key term and re-seals every field under
// a new one (`accessctl keys rotate-fields`).
type FieldRotator interface {
	RotateFields(opt store.RotateFieldsOptions) (store.FieldRotation, error)
}

// Planes are the rooms the routes of both planes ask.
type Planes struct {
	Identity *directory.Service
	// MFA is the users' second-factor enrolment (oauth/login).
	MFA    Enrolment
	Tokens *token.Server
	Index  Index
	Audit  AuditLog
	// Refusals audits denied decisions and denied Identity routes
	// (nil: each in full through Audit, unbounded; the daemon wires a
	// change.Repeats).
	Refusals Refusals
	Log      *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now

	// The admin plane only.

	// AdminActor names the admin-socket caller from the peer credentials
	// its connection was accepted with; the listener already decided it
	// may be here.
	AdminActor func(r *http.Request) (change.Actor, error)
	// Status is what `accessctl status` shows.
	Status func() api.Status
	// Metrics serves the Prometheus registry of the daemon.
	Metrics http.Handler
	// Backup writes a backup of the store, begun at now, to w.
	Backup func(w io.Writer, now time.Time) error
	// Fields re-seals the store's sealed fields.
	Fields FieldRotator
	// Review answers the audit and access-review routes, Apply the
	// policy route.
	Review Reviewer
	Apply  Applier
}

func (p *Planes) defaults() {
	if p.Log == nil {
		p.Log = slog.Default()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Refusals == nil {
		p.Refusals = inFull{audit: p.Audit, log: p.Log}
	}
}

// Data is the data plane (TLS): the Identity API for bearers, the token
// endpoint's two faces, MFA completion, introspection, revocation,
// discovery, JWKS, userinfo, logout, the decisions and /health.
func Data(p Planes) *http.ServeMux {
	p.defaults()
	mux := http.NewServeMux()
	a := auth{tokens: p.Tokens, index: p.Index}
	IdentityRoutes(mux, p.Identity, Plane{Authenticate: a.bearer, MFA: p.MFA, Audit: p.Audit, Refusals: p.Refusals, Now: p.Now, Log: p.Log, Allowed: a.identityAllowed})
	t := tokenRoutes{s: p.Tokens, log: p.Log, allowed: a.identityAllowed}
	mux.HandleFunc("POST /v1/login/oauth/access_token", t.lerianToken(""))
	mux.HandleFunc("POST /v1/login/oauth/refresh_token", t.lerianToken("refresh_token"))
	mux.HandleFunc("POST /v1/login/mfa/challenge", t.mfaChallenge)
	mux.HandleFunc("POST /v1/login/mfa/verify", t.mfaVerify)
	mux.HandleFunc("POST /oauth/token", t.oauthToken)
	mux.HandleFunc("POST /oauth/introspect", t.introspect)
	mux.HandleFunc("POST /oauth/revoke", t.revoke)
	mux.HandleFunc("GET /.well-known/jwks.json", t.jwks)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", t.discovery)
	mux.HandleFunc("GET /.well-known/openid-configuration", t.discovery)
	mux.HandleFunc("GET /v1/userinfo", t.userinfo)
	mux.HandleFunc("POST /v1/logout", t.logout)
	d := decisions{tokens: p.Tokens, index: p.Index, refusals: p.Refusals, now: p.Now}
	mux.HandleFunc("POST /v1/authorize", d.authorize)
	mux.HandleFunc("GET /v1/permissions", d.permissions)
	mux.HandleFunc("GET /v1/permissions/{$}", d.permissions) // what Lerian's console calls
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("healthy"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, fmt.Errorf("%w: no such route: %s %s", api.ErrNotFound, r.Method, r.URL.Path))
	})
	return mux
}

// Admin is the admin plane: reachable only through the admin socket,
// after the peer-credential check. Every route but /v1/status and
// /metrics names its caller by AdminActor.
func Admin(p Planes) *http.ServeMux {
	p.defaults()
	mux := http.NewServeMux()
	IdentityRoutes(mux, p.Identity, Plane{Admin: true, Authenticate: p.AdminActor, MFA: p.MFA, Audit: p.Audit, Now: p.Now, Review: p.Review, Apply: p.Apply, Log: p.Log})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, p.Status())
	})
	a := adminRoutes{p: p}
	mux.HandleFunc("GET /v1/keys", a.as(a.listKeys))
	mux.HandleFunc("POST /v1/keys/rotate", a.as(a.rotateKeys))
	mux.HandleFunc("GET /v1/backup", a.as(a.backup))
	mux.HandleFunc("POST /v1/keys/rotate-fields", a.as(a.rotateFields))
	mux.Handle("GET /metrics", p.Metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, fmt.Errorf("%w: no such admin route: %s %s", api.ErrNotFound, r.Method, r.URL.Path))
	})
	return mux
}

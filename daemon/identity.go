package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/oauth/policy"
	"github.com/accessd/accessd/oauth/review"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// identityPlane is the Identity layer as serve runs it: the audit
// writer, the permission index and the service over the store.
type identityPlane struct {
	audit  *audit.Log
	index  *authz.Index
	svc    *directory.Service
	mfa    *login.Enrolment
	review *review.Admin
	apply  *policy.Applier
	tokens *token.Server
	// refusals audits denied decisions and routes and the failed
	// sign-ins of unknown usernames, summarised per minute.
	refusals *change.Repeats
}

// openIdentity starts the audit writer (scheduled by q, the queue st was
// opened with), builds the permission index from the store and returns
// the service. close stops the writer (before the store closes).
func openIdentity(st *store.Store, q *audit.Queue, cfg Config, log *slog.Logger) (*identityPlane, error) {
	al, err := audit.Open(st, q, audit.Options{Emit: journalEmitter(log), Log: log})
	if err != nil {
		return nil, fmt.Errorf("daemon: audit log: %w", err)
	}
	if ids := st.EmailsShared(); len(ids) > 0 {
		// What the layout-3 migration of this start found: the accounts
		// that sign in by username until an admin resolves their address.
		e := store.AuditEntry{Type: "store.email_shared", Actor: change.System.Name, Source: change.System.Source,
			Target: "users", Result: "marked", Detail: map[string]string{"accounts": strconv.Itoa(len(ids)), "ids": strings.Join(ids, ",")}}
		if err := al.Record(context.Background(), e); err != nil {
			log.Error("audit entry not written", "event", "audit.record_error", "type", e.Type, "err", err)
		}
	}
	idx := authz.New()
	// The application table that authenticates clients is filled by the
	// directory's index; the sign-in room reads the directory, whose
	// credential operations ask it for their step-up.
	apps := login.NewClients(st, login.Options{Audit: al, Log: log})
	dest, err := delivery.NewDestinations(cfg.Delivery.AllowHosts, []string{cfg.Listen.TLS})
	if err != nil {
		al.Close()
		return nil, err
	}
	svc, err := directory.New(st, cfg.Identity, directory.Options{Audit: al, Index: idx, Log: log, Applications: apps, Destinations: dest})
	if err != nil {
		al.Close()
		return nil, err
	}
	refusals := change.NewRepeats(al, log, nil)
	signIn, mfa := login.New(st, svc.SignInDirectory(), login.Options{Audit: al, Log: log, Issuer: totpIssuer(cfg.Issuer), Providers: svc.Providers(),
		Refusals: refusals})
	svc.UseLogin(signIn, mfa)
	// Loading decodes every user once; collect its garbage eagerly, since
	// under mlockall the heap's high-water mark stays resident.
	gc := debug.SetGCPercent(20)
	err = svc.LoadIndex()
	debug.SetGCPercent(gc)
	if err != nil {
		al.Close()
		return nil, err
	}
	// Providers made before IDs and defaults get them (idempotent).
	if err := svc.Providers().MigrateProviders(context.Background()); err != nil {
		al.Close()
		return nil, err
	}
	tokens, err := token.New(st, cfg.Tokens, token.Options{Issuer: cfg.Issuer, Owner: cfg.Owner, Sessions: svc,
		Clients: apps, ClientAuth: apps, SignIn: signIn, SecondFactor: signIn, Audit: al, Subjects: idx, Log: log, DefaultProduct: cfg.Authz.DefaultProduct})
	if err != nil {
		al.Close()
		return nil, err
	}
	tokens.Start()
	refusals.Start()
	rev := review.New(st, review.Options{Audit: al, Index: idx, MaxSecretAge: cfg.Identity.MaxSecretAge.Duration, Log: log})
	return &identityPlane{audit: al, index: idx, svc: svc, mfa: mfa, review: rev, apply: policy.NewApplier(st, svc.Groups(), nil), tokens: tokens,
		refusals: refusals}, nil
}

// close stops the token housekeeping and the refusals' summaries
// (writing their last audit summaries), then the audit writer, before
// the store closes.
func (p *identityPlane) close() {
	if p != nil {
		p.tokens.Close()
		p.refusals.Close()
		p.audit.Close()
	}
}

// registerMetrics adds the token layer's counters and the refusals'
// counter to reg.
func (p *identityPlane) registerMetrics(reg prometheus.Registerer) error {
	if err := p.tokens.Metrics().Register(reg); err != nil {
		return err
	}
	return reg.Register(p.refusals.Collector())
}

// auditMessageID is the journald MESSAGE_ID of every audit entry, stable
// across versions, so a SIEM forwarder can select the audit trail with
// `journalctl MESSAGE_ID=…` without reading the store.
const auditMessageID = "5b1f0c7e9a4d4e2b8c6a3f1d2e9b7a40"

// journalEmitter returns the audit writer's Emit: one journald entry per
// audit entry, natively (structured fields) when journald listens, else
// one JSON log line with the same fields. Never a secret: the entry's
// Detail stays in the store; the line has type, actor, target (record
// IDs, not names), result, source, sequence number and hash. So the
// username a failed sign-in attempted, which its entry's detail keeps
// for auditors, never reaches the journal.
func journalEmitter(log *slog.Logger) func(store.AuditEntry) {
	native := journal.Enabled()
	return func(e store.AuditEntry) {
		hash := fmt.Sprintf("%x", e.Hash)
		if native {
			err := journal.Send(fmt.Sprintf("audit %s %s by %s: %s", e.Type, e.Target, e.Actor, e.Result), journal.PriNotice, map[string]string{
				"MESSAGE_ID":           auditMessageID,
				"SYSLOG_IDENTIFIER":    "accessd",
				"ACCESSD_AUDIT_SEQ":    strconv.FormatUint(e.Seq, 10),
				"ACCESSD_AUDIT_TYPE":   e.Type,
				"ACCESSD_AUDIT_ACTOR":  e.Actor,
				"ACCESSD_AUDIT_TARGET": e.Target,
				"ACCESSD_AUDIT_RESULT": e.Result,
				"ACCESSD_AUDIT_SOURCE": e.Source,
				"ACCESSD_AUDIT_HASH":   hash,
			})
			if err == nil {
				return
			}
		}
		log.Info("audit", "event", "audit.entry", "MESSAGE_ID", auditMessageID, "seq", e.Seq, "type", e.Type,
			"actor", e.Actor, "target", e.Target, "result", e.Result, "source", e.Source, "hash", hash)
	}
}

// totpIssuer is the name authenticator apps show for this appliance: the
// host of the issuer URL. The URL itself has a colon ("https:"), which a
// TOTP label cannot carry, so every MFA setup failed with it.
func totpIssuer(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "accessd"
}

type peerCtxKey struct{}

// connContext hands a request the peer credentials its admin connection
// was accepted with.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, peerCtxKey{}, pc.peer)
	}
	return ctx
}

// adminActor names the admin-socket caller by uid (and pid) for the
// audit trail; the listener already decided it may be here.
func adminActor(r *http.Request) (change.Actor, error) {
	p, ok := r.Context().Value(peerCtxKey{}).(Peer)
	if !ok {
		return change.Actor{}, fmt.Errorf("daemon: %w: admin connection without peer credentials", api.ErrForbidden)
	}
	return change.Actor{Name: "uid:" + strconv.FormatUint(uint64(p.UID), 10), Source: "admin-socket pid " + strconv.Itoa(int(p.PID)), Admin: true}, nil
}

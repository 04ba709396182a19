// Package change is what every room of the OAuth and Identity server
// shares about a change: who asks for it (Actor), how it is written down
// (an audit entry staged in the change's own transaction, or recorded
// alone for a refusal), and how the store's sentinel errors reach the
// caller (as the catalogue's errors of oauth/api). It sits below the
// rooms (directory, login, token, the HTTP edge) so that none of them
// reaches into another for these.
//
// Threat model: an Actor is built only by the planes (the peer check on
// the admin socket, a verified bearer on the data plane); nothing here
// trusts a name given in a request. Error messages name what was looked
// for, never a secret.
package change

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

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
	// need it.
	Session *Session
}

// Session is what a sign-in proved and when: the time and methods
// (RFC 8176 amr values, "pwd", "otp") of the original sign-in, which a
// refresh carries on and never renews.
type Session struct {
	// ID is the session's refresh family (a token's sid).
	ID       string
	AuthTime time.Time
	AMR      []string
}

// System is the actor of changes accessd makes itself (init, migration).
var System = Actor{Name: "accessd", Source: "local", Admin: true}

// Entry is the audit entry of a change by a, at now.
func (a Actor) Entry(now time.Time, typ, target, result string, detail map[string]string) store.AuditEntry {
	return store.AuditEntry{Time: now.UTC(), Type: typ, Actor: a.Name, Target: target,
		Result: result, Source: a.Source, Detail: detail}
}

// Recorder writes an audit entry durably: the audit log.
type Recorder interface {
	Record(ctx context.Context, e store.AuditEntry) error
}

// Record writes an audit entry that is not part of a change (a refusal,
// a failed sign-in), durably, before the caller answers. A failure is
// logged, never shown to the caller.
func Record(ctx context.Context, r Recorder, log *slog.Logger, e store.AuditEntry) {
	if err := r.Record(ctx, e); err != nil {
		log.Error("audit entry not written", "event", "audit.record_error", "type", e.Type, "err", err)
	}
}

// StoreErr maps the store's sentinel errors onto the catalogue, naming
// what was looked for; room prefixes the message ("identity", "token").
func StoreErr(room, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%s: %s: %w", room, what, api.ErrNotFound)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%s: %s: %w", room, what, api.ErrExists)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%s: %s: %w; retry", room, what, api.ErrConflict)
	case errors.Is(err, store.ErrClosed):
		return fmt.Errorf("%s: %s: %w", room, what, api.ErrUnavailable)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("%s: %s: %w: %v", room, what, api.ErrInvalidField, err)
	}
	var f *api.Fault
	if errors.As(err, &f) {
		return err
	}
	return fmt.Errorf("%s: %s: %w", room, what, err)
}

// Invalid is a refused field value, said in words the caller can act on.
func Invalid(room, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", room, api.ErrInvalidField, fmt.Sprintf(format, args...))
}

// Missing names required fields the request left out.
func Missing(room string, fields ...string) error {
	return fmt.Errorf("%s: %w: %v required", room, api.ErrMissingRequired, fields)
}

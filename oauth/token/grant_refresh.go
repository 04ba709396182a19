package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// refreshGrant is the refresh_token grant with rotation on every use
// (RFC 9700 §4.14.2): the presented token is spent and a new one of the
// same family returned. A spent token presented again is a replay: the
// whole family is revoked, so a stolen refresh token and the legitimate
// one cannot both go on. Tokens are stored only as keyed hashes.
//
// On RFC 6749's face a family issued to a confidential client refreshes
// only with that client authenticating again (§6); only the built-in
// public client (tokens.default_client) refreshes without a secret.
// Lerian's JSON face sends only refreshToken, so there the refresh token
// is the credential (Request.RefreshBearer); client credentials, when
// sent on either face, must be those of the family's client.
type refreshGrant struct {
	clients    *clientAuth
	failedAddr *keyed // the source address's failure budget, shared with client authentication
	families   refreshFamilies
	hash       refreshHasher
	sessions   SessionChecker
	users      Users
	subjects   Subjects
	sign       *signer
	audit      recorder
	metrics    *Metrics
	log        *slog.Logger
	refreshTTL time.Duration
}

// refreshFamilies is what the refresh grant asks of the family store.
type refreshFamilies interface {
	GetByTokenHash(hash []byte) (store.RefreshFamily, error)
	Update(id string, fn func(old store.RefreshFamily) (store.RefreshFamily, error)) (store.RefreshFamily, error)
}

var errReplay = errors.New("refresh token replayed")

// errRefreshNeedsClient is a refresh on RFC 6749's face of a token issued
// to a confidential client, sent without that client's credentials.
var errRefreshNeedsClient = fmt.Errorf("%w: the refresh token was issued to a confidential client, which must authenticate to refresh it (RFC 6749 §6)", errNoClient)

func badRefresh(why string) error {
	return fmt.Errorf("token: %w: the refresh token is invalid, expired or revoked (%s); sign in again", api.ErrBadRefresh, why)
}

func (g refreshGrant) issue(ctx context.Context, r *Request) (*Issued, error) {
	if r.RefreshToken == "" {
		return nil, fmt.Errorf("token: %w: refreshToken is required", api.ErrMissingFields)
	}
	cl, err := g.clients.authenticate(ctx, r)
	if err != nil {
		return nil, err
	}
	// Failed refreshes are audited one by one, so they spend the source
	// address's failure budget like failed client authentications: the
	// log cannot be flooded with made-up refresh tokens.
	if err := g.failedAddr.check(r.Source); err != nil {
		g.metrics.limited.WithLabelValues("refresh-address").Inc()
		return nil, err
	}
	actor := "anonymous" // the caller's clientId is not proof of anything
	if cl != nil {
		actor = "app:" + cl.ClientID
	}
	hash := g.hash(r.RefreshToken)
	f, err := g.families.GetByTokenHash(hash)
	if errors.Is(err, store.ErrNotFound) {
		_ = g.failedAddr.take(r.Source)
		g.audit.record(ctx, "token.refresh", actor, "unknown-token", "failed", r.Source, nil)
		return nil, badRefresh("unknown")
	} else if err != nil {
		return nil, fmt.Errorf("token: find refresh family: %w", err)
	}
	if (cl != nil && cl.ClientID != f.ClientID) || (cl == nil && r.ClientID != "" && r.ClientID != f.ClientID) {
		_ = g.failedAddr.take(r.Source)
		g.audit.record(ctx, "token.refresh", actor, "refresh-family:"+f.ID, "wrong-client", r.Source, nil)
		return nil, badRefresh("issued to another client")
	}
	if cl == nil && !r.RefreshBearer && f.ClientID != g.clients.defaultClient {
		_ = g.failedAddr.take(r.Source)
		g.audit.record(ctx, "token.refresh", actor, "refresh-family:"+f.ID, "no-client-auth", r.Source, nil)
		return nil, errRefreshNeedsClient
	}
	next, err := g.sign.randomToken(refreshPrefix)
	if err != nil {
		return nil, err
	}
	now := g.sign.now().UTC()
	tp := thumbprint(r.Cert)
	var why string
	f, err = g.families.Update(f.ID, func(f store.RefreshFamily) (store.RefreshFamily, error) {
		why = ""
		switch {
		case f.Revoked:
			why = "revoked"
		case !equalHash(f.CurrentHash, hash):
			f.Revoked = true // a replay: end the family, and commit that
			why = "replayed"
			return f, nil
		case !f.ExpiresAt.After(now):
			why = "expired"
		case !g.sessions.TokenValid(f.Subject, f.ID, f.CreatedAt):
			why = "signed out"
		case f.CertThumbprint != "" && (tp == nil || tp.X5tS256 != f.CertThumbprint):
			why = "not presented over the certificate it is bound to"
		}
		if why != "" {
			return f, errReplay
		}
		f.CurrentHash = g.hash(next)
		f.ExpiresAt = now.Add(g.refreshTTL)
		return f, nil
	})
	if why != "" && (err == nil || errors.Is(err, errReplay)) {
		_ = g.failedAddr.take(r.Source)
		if why == "replayed" {
			g.metrics.revocations.Inc()
			g.log.Warn("spent refresh token presented again; its family is revoked", "event", "token.refresh_replay", "family", f.ID, "subject", f.Subject)
		}
		g.audit.record(ctx, "token.refresh", "user:"+f.Subject, "refresh-family:"+f.ID, why, r.Source, nil)
		return nil, badRefresh(why)
	}
	if err != nil {
		return nil, fmt.Errorf("token: rotate refresh token: %w", err)
	}
	u, err := g.users.Get(f.Subject)
	if err != nil || u.Disabled || !g.subjects.Has(u.ID) {
		_ = g.failedAddr.take(r.Source)
		g.audit.record(ctx, "token.refresh", "user:"+f.Subject, "refresh-family:"+f.ID, "no-user", r.Source, nil)
		return nil, badRefresh("the user is gone or disabled")
	}
	cnf := tp
	if f.CertThumbprint != "" {
		cnf = &Confirmation{X5tS256: f.CertThumbprint}
	}
	at, kid, err := g.sign.accessToken(Claims{Subject: u.ID, ClientID: f.ClientID, Type: TypeUser, Name: u.Username,
		DisplayName: displayName(u), TenantID: u.TenantID, TenantSlug: u.TenantSlug,
		AuthTime: f.AuthTime.Unix(), AMR: f.AMR, SessionID: f.ID, Cnf: cnf})
	if err != nil {
		return nil, err
	}
	// A refreshed ID token keeps the sign-in's auth_time and has no
	// nonce (OpenID Connect Core §12.2).
	idt, err := g.sign.idToken(u, f.ClientID, "", f.AuthTime, f.ID)
	if err != nil {
		return nil, err
	}
	g.audit.record(ctx, "token.refresh", "user:"+u.ID, "refresh-family:"+f.ID, "ok", r.Source, map[string]string{"kid": kid})
	return &Issued{Access: at, ExpiresIn: int64(g.sign.ttl.Seconds()), Refresh: next, IDToken: idt}, nil
}

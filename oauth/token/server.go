package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
)

// Subjects is what the token layer asks the permission index: whether a
// user's record still exists, so a deleted user's tokens stop at once.
type Subjects interface {
	Has(id string) bool
}

// Server is the OAuth engine behind both faces of the token endpoint,
// and the verifier every bearer route uses. It dispatches: each grant,
// the client authentication, the signer and the audit summary are their
// own types, holding only what they use.
type Server struct {
	cfg        Config
	issuer     string
	owner      string
	expiring   expiringStore
	families   familyStore
	users      Users
	sessions   SessionChecker
	apps       ClientDirectory
	subjects   Subjects
	keys       *Keys
	sign       *signer
	clients    *clientAuth
	tokens     *userTokens
	audit      recorder
	cache      verified
	revoked    revocations
	revoker    *Revoker
	mfa        *MFA
	challenges mfaSessions // open MFA challenges of password grants
	limits     *limits
	summary    summaries
	metrics    *Metrics
	grants     map[string]grant
	log        *slog.Logger
	now        func() time.Time
	// defaultProduct is Options.DefaultProduct.
	defaultProduct string

	stop chan struct{}
	wg   sync.WaitGroup
}

// Options are the server's collaborators.
type Options struct {
	Issuer string // the iss of every token; an https URL
	Owner  string // the organisation part of subjects (lib-auth's owner claim)
	// What the token layer asks of the identity side, one job each.
	Sessions     SessionChecker
	Clients      ClientDirectory
	ClientAuth   ClientAuthenticator
	SignIn       SignInService
	SecondFactor SecondFactor
	Audit        change.Recorder
	Subjects     Subjects
	Metrics      *Metrics // nil: counted nowhere
	Log          *slog.Logger
	Now          func() time.Time // nil: time.Now
	Rand         io.Reader        // nil: crypto/rand
	// DefaultProduct is the product of a decision whose body names none
	// ([authz] default_product); "" decides such checks on grants
	// without a product only.
	DefaultProduct string
}

// tokenStore is all the token layer asks of the store; *store.Store provides it.
type tokenStore interface {
	keyStore
	expiringStore
	Users() *store.UserRepo
	Sum(purpose string, msg []byte) []byte
}

// expiringStore is the token state the hourly sweep deletes; *store.Store provides it.
type expiringStore interface {
	revocationStore
	RefreshFamilies() *store.RefreshFamilyRepo
}

var _ tokenStore = (*store.Store)(nil)

// New loads (or makes) the signing keys and the revocation list and
// returns the server. Call Start for its housekeeping and Close at stop.
func New(st tokenStore, cfg Config, opt Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("token: config: %w", err)
	}
	if opt.Sessions == nil || opt.Clients == nil || opt.ClientAuth == nil || opt.SignIn == nil || opt.SecondFactor == nil ||
		opt.Audit == nil || opt.Subjects == nil || opt.Issuer == "" || opt.Owner == "" {
		return nil, errors.New("token: New needs an issuer, an owner, the identity side (sessions, clients, client authentication, sign-in, second factor), the audit log and the subjects")
	}
	if opt.DefaultProduct != "" && !authz.ValidProduct(opt.DefaultProduct) {
		return nil, fmt.Errorf("token: default product %q is not a product name (letters, digits, '.', '_', '-')", opt.DefaultProduct)
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
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	s := &Server{cfg: cfg, issuer: opt.Issuer, owner: opt.Owner, expiring: st, families: st.RefreshFamilies(), users: st.Users(),
		sessions: opt.Sessions, apps: opt.Clients, subjects: opt.Subjects,
		audit: recorder{audit: opt.Audit, log: opt.Log, now: opt.Now}, metrics: opt.Metrics, log: opt.Log,
		now: opt.Now, stop: make(chan struct{}), defaultProduct: opt.DefaultProduct}
	keys, err := newKeys(st, cfg, s.now, opt.Rand, s.log)
	if err != nil {
		return nil, err
	}
	s.keys = keys
	if err := s.revoked.load(st, s.now()); err != nil {
		return nil, err
	}
	s.limits = newLimits(cfg, s.now)
	s.sign = &signer{issuer: s.issuer, owner: s.owner, ttl: cfg.AccessTTL.Duration, keys: keys, now: s.now, rand: opt.Rand}
	s.clients = &clientAuth{ids: opt.ClientAuth, failedAddr: s.limits.failedAddr, failedClient: s.limits.failedClient,
		metrics: s.metrics, defaultClient: cfg.DefaultClient}
	hash := refreshHasher(func(tok string) []byte { return st.Sum("refresh-token", []byte(tok)) })
	s.tokens = &userTokens{families: s.families, hash: hash, sign: s.sign, audit: s.audit, refreshTTL: cfg.RefreshTTL.Duration}
	s.grants = map[string]grant{
		"client_credentials": clientCredentials{clients: s.clients, limit: s.limits.clientCredentials, sign: s.sign, summary: &s.summary},
		"password": passwordGrant{clients: s.clients, limits: s.limits, login: opt.SignIn, mfa: &s.challenges, sign: s.sign,
			tokens: s.tokens, defaultClient: cfg.DefaultClient},
		"refresh_token": refreshGrant{clients: s.clients, failedAddr: s.limits.failedAddr, families: s.families, hash: hash,
			sessions: opt.Sessions, users: s.users, subjects: opt.Subjects, sign: s.sign, audit: s.audit, metrics: s.metrics,
			log: s.log, refreshTTL: cfg.RefreshTTL.Duration},
	}
	s.revoker = &Revoker{issuer: s.issuer, keys: keys, families: s.families, revokedStore: st.RevokedTokens(), revoked: &s.revoked,
		hash: hash, metrics: s.metrics, audit: s.audit, now: s.now}
	s.mfa = &MFA{open: &s.challenges, subjects: opt.Subjects, sessions: opt.Sessions, second: opt.SecondFactor, users: s.users,
		tokens: s.tokens, metrics: s.metrics, now: s.now}
	s.metrics.keyAge = s.keys.ActiveAge
	return s, nil
}

// Metrics returns the server's collectors, for the admin plane's registry.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Revoker ends tokens and sessions (RFC 7009, logout).
func (s *Server) Revoker() *Revoker { return s.revoker }

// MFA completes sign-ins answered with an MFA challenge.
func (s *Server) MFA() *MFA { return s.mfa }

// Keys returns the signing keys (rotation, listing).
func (s *Server) Keys() *Keys { return s.keys }

// Start runs the housekeeping: key rotation, the per-minute audit
// summary of client_credentials grants, and the sweep of expired refresh
// families and revocations.
func (s *Server) Start() {
	s.wg.Go(func() {
		minute := time.NewTicker(time.Minute)
		hour := time.NewTicker(time.Hour)
		defer minute.Stop()
		defer hour.Stop()
		s.sweep()
		for {
			select {
			case <-s.stop:
				return
			case <-minute.C:
				s.flushSummary(context.Background())
				if err := s.keys.Maintain(false); err != nil {
					s.log.Error("signing key rotation failed; the active key keeps signing", "event", "token.key_rotation_error", "err", err)
				}
				s.challenges.sweep(s.now())
			case <-hour.C:
				s.sweep()
			}
		}
	})
}

// Close stops the housekeeping and writes the last summary, before the
// audit log closes.
func (s *Server) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.wg.Wait()
	s.flushSummary(context.Background())
}

// sweep deletes expired refresh families and revocations.
func (s *Server) sweep() {
	now := s.now()
	f, err := s.expiring.RefreshFamilies().DeleteExpired(now)
	if err != nil {
		s.log.Warn("expired refresh families not swept", "event", "token.sweep_error", "err", err)
	}
	r, err := s.expiring.RevokedTokens().DeleteExpired(now)
	if err != nil {
		s.log.Warn("expired revocations not swept", "event", "token.sweep_error", "err", err)
	} else {
		s.revoked.forgetExpired(now)
	}
	if f+r > 0 {
		s.log.Info("swept expired token state", "event", "token.sweep", "refreshFamilies", f, "revocations", r)
	}
}

// Principal is a verified bearer: the token's claims and the record ID of
// its user or application (the permission index's subject).
type Principal struct {
	Claims    *Claims
	SubjectID string
}

// User reports whether the principal is a person.
func (p Principal) User() bool { return p.Claims.Type == TypeUser }

// Verify checks an access token completely: signature, typ, key, expiry
// and not-before, issuer, revocation, and that its user or application
// still exists and has not been logged out or disabled since. The
// signature check is cached by the token's hash; the rest runs on every
// call.
func (s *Server) Verify(tok string) (Principal, error) {
	p, reason := s.verify(tok)
	if reason != "" {
		s.metrics.verifyFailed.WithLabelValues(reason).Inc()
		return Principal{}, errBadToken
	}
	return p, nil
}

func (s *Server) verify(tok string) (Principal, string) {
	if tok == "" {
		return Principal{}, "missing"
	}
	sum := tokenSum(tok)
	c, ok := s.cache.get(sum)
	now := s.now()
	if !ok {
		var err error
		c, err = s.keys.parse(tok)
		if err != nil {
			return Principal{}, "signature"
		}
		if c.Issuer != s.issuer {
			return Principal{}, "issuer"
		}
		if c.Expiry > now.Unix() {
			s.cache.put(sum, c, now)
		}
	}
	// Expired by the clock, or by the last sweep of revocations, which
	// may have forgotten this token's revocation: a clock set back after
	// a sweep cannot revive a revoked token.
	if c.Expiry <= now.Unix() || c.Expiry <= s.revoked.swept.Load() {
		return Principal{}, "expired"
	}
	if c.NotBefore > now.Unix() {
		return Principal{}, "not-yet-valid"
	}
	if s.revoked.has(c.ID) {
		return Principal{}, "revoked"
	}
	iat := time.Unix(c.IssuedAt, 0)
	switch c.Type {
	case TypeUser:
		if !s.subjects.Has(c.Subject) || !s.sessions.TokenValid(c.Subject, c.SessionID, iat) {
			return Principal{}, "subject"
		}
		return Principal{Claims: c, SubjectID: c.Subject}, ""
	case TypeApplication:
		cl, ok := s.apps.Client(c.ClientID)
		if !ok || cl.ClientID != c.Subject || !s.sessions.TokenValid(cl.ID, "", iat) || (!cl.ExpiresAt.IsZero() && !now.Before(cl.ExpiresAt)) {
			return Principal{}, "subject"
		}
		if c.SecretCreated != 0 && !cl.SecretLive(c.SecretCreated, now) {
			return Principal{}, "secret"
		}
		return Principal{Claims: c, SubjectID: cl.ID}, ""
	}
	return Principal{}, "type"
}

// Actor is the audit name of a principal.
func (p Principal) Actor(source string) change.Actor {
	if p.User() {
		return change.Actor{Name: "user:" + p.SubjectID, Source: source, SubjectID: p.SubjectID}
	}
	return change.Actor{Name: "app:" + p.Claims.ClientID, Source: source, SubjectID: p.SubjectID}
}

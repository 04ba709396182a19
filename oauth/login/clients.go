package login

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Client is what authenticating an application needs, held in memory so
// that a client_credentials grant costs no store read: the secret check
// is an HMAC over the live hashes, the certificate check a comparison.
type Client struct {
	ID          string // record ID: the permission index's subject
	ClientID    string
	Name        string
	secrets     []store.SecretHash
	ExpiresAt   time.Time
	CertSPKI    []byte // SHA-256 of the bound certificate's SubjectPublicKeyInfo
	CertSubject string // or the bound certificate's subject DN (RFC 4514)
	// TenantID and TenantSlug: the application's tenant, for its tokens.
	TenantID, TenantSlug string
	// SecretCreated names the secret a secret authentication presented,
	// by its creation (Unix nanoseconds), for the tokens it mints
	// (SecretLive); 0 for a certificate, or a secret of unknown age.
	SecretCreated int64
}

// SecretLive reports whether the secret created at created (a token's
// SecretCreated) is still one of the application's live secrets at now:
// once a rotation's grace is over, the tokens the old secret minted end
// with it.
func (cl Client) SecretLive(created int64, now time.Time) bool {
	for _, h := range cl.secrets {
		if !h.CreatedAt.IsZero() && h.CreatedAt.UnixNano() == created {
			return h.ExpiresAt.IsZero() || now.Before(h.ExpiresAt)
		}
	}
	return false
}

// Clients authenticates applications (client_credentials with a secret,
// tls_client_auth with a certificate) from a copy-on-write table of
// applications by client ID, which the directory keeps current (Set,
// Forget) as applications change. Reads
// (every client authentication) load one pointer and take no lock;
// writes (an application created, rotated, regrouped or deleted) copy
// the map under a mutex. There are few applications and they change
// rarely.
type Clients struct {
	st clientStore
	auditor

	mu  sync.Mutex
	cur atomic.Pointer[map[string]*Client]
	ids map[string]string // record ID -> client ID, guarded by mu

	useMu sync.Mutex
	used  map[string]time.Time // record ID -> last use, flushed by RecordClientUse
}

func (s *Clients) get(clientID string) (*Client, bool) {
	m := s.cur.Load()
	if m == nil {
		return nil, false
	}
	cl, ok := (*m)[clientID]
	return cl, ok
}

// Set puts the application a in the table, or its new state.
func (s *Clients) Set(a store.Application) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.clone()
	if old, ok := s.ids[a.ID]; ok && old != a.ClientID {
		delete(next, old)
	}
	next[a.ClientID] = &Client{ID: a.ID, ClientID: a.ClientID, Name: a.Name, secrets: a.SecretHashes,
		ExpiresAt: a.ExpiresAt, CertSPKI: a.CertSPKI, CertSubject: a.CertSubject, TenantID: a.TenantID, TenantSlug: a.TenantSlug}
	s.ids[a.ID] = a.ClientID
	s.cur.Store(&next)
}

// Forget removes the application with record ID id.
func (s *Clients) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cid, ok := s.ids[id]
	if !ok {
		return
	}
	next := s.clone()
	delete(next, cid)
	delete(s.ids, id)
	s.cur.Store(&next)
}

// clone copies the current map; the caller holds mu.
func (s *Clients) clone() map[string]*Client {
	if s.ids == nil {
		s.ids = map[string]string{}
	}
	if m := s.cur.Load(); m != nil {
		return maps.Clone(*m)
	}
	return map[string]*Client{}
}

// clientStore hashes client secrets and records the last use of applications; *store.Store provides it.
type clientStore interface {
	credential.Pepper
	Update(fn func(tx *store.Tx) error) error
}

var _ clientStore = (*store.Store)(nil)

// NewClients returns an empty table; the directory fills it when it
// loads its index.
func NewClients(st clientStore, opt Options) *Clients {
	opt.defaults()
	return &Clients{st: st, auditor: opt.auditor()}
}

// Client returns the application with the given client ID from memory:
// for token verification (an application token's subject must still
// exist) and for the certificate binding of tls_client_auth.
func (s *Clients) Client(clientID string) (Client, bool) {
	cl, ok := s.get(clientID)
	if !ok {
		return Client{}, false
	}
	return *cl, true
}

// errBadClient is what every refused client authentication says.
func errBadClient() error {
	return fmt.Errorf("identity: %w: wrong client id or secret", api.ErrBadLogin)
}

// AuthenticateClient checks a client ID and secret (client_credentials,
// client_secret_basic/post) against the live secrets, in constant time
// across them, from memory. It never says which part was wrong. A
// failure is audited, durably, before it returns (callers rate-limit
// failures first, so the log cannot be flooded); a success is not: the
// token layer summarises uses per application and minute, and reports
// the last use with RecordClientUse.
func (s *Clients) AuthenticateClient(ctx context.Context, a Actor, clientID string, secret []byte) (Client, error) {
	cl, known, ok := s.checkClientSecret(clientID, secret)
	if ok {
		return cl, nil
	}
	target := "unknown-client"
	if known {
		target = "app:" + clientID
	}
	s.record(ctx, s.entry(a, "app.auth", target, "failed", nil))
	return Client{}, errBadClient()
}

// CheckClientSecret is AuthenticateClient without the audit entry of a
// failure: for a caller that is over its failure budget, whose further
// failures are counted, not each recorded. A right secret still passes,
// so nobody can lock a service out by failing on its behalf.
func (s *Clients) CheckClientSecret(clientID string, secret []byte) (Client, bool) {
	cl, _, ok := s.checkClientSecret(clientID, secret)
	return cl, ok
}

func (s *Clients) checkClientSecret(clientID string, secret []byte) (cl Client, known, ok bool) {
	c, found := s.get(clientID)
	if !found {
		return Client{}, false, false
	}
	now := s.now()
	var hashes [][]byte
	var created []time.Time
	for _, h := range c.secrets {
		if h.ExpiresAt.IsZero() || now.Before(h.ExpiresAt) {
			hashes = append(hashes, h.Hash)
			created = append(created, h.CreatedAt)
		}
	}
	i, ok := credential.VerifyClientSecret(s.st, secret, hashes)
	if !ok || c.expired(now) {
		return Client{}, true, false
	}
	s.markUsed(c.ID, now)
	cl = *c
	if !created[i].IsZero() {
		cl.SecretCreated = created[i].UnixNano()
	}
	return cl, true, true
}

func (cl *Client) expired(now time.Time) bool {
	return !cl.ExpiresAt.IsZero() && !now.Before(cl.ExpiresAt)
}

// ErrCertMismatch is wrapped in the error of a tls_client_auth whose
// certificate is not the one the application is bound to.
var ErrCertMismatch = errors.New("client certificate does not match the application's binding")

// AuthenticateCertificate is tls_client_auth (RFC 8705 §2): the TLS layer
// has verified cert against tls.client_ca; this matches it to the
// application's binding, by the SHA-256 of its SubjectPublicKeyInfo or by
// its subject DN. An application with no binding cannot use it.
func (s *Clients) AuthenticateCertificate(ctx context.Context, a Actor, clientID string, cert *x509.Certificate) (Client, error) {
	cl, ok := s.get(clientID)
	now := s.now()
	if ok && !cl.expired(now) && cert != nil {
		spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		switch {
		case len(cl.CertSPKI) > 0 && string(cl.CertSPKI) == string(spki[:]):
			s.markUsed(cl.ID, now)
			return *cl, nil
		case cl.CertSubject != "" && cl.CertSubject == cert.Subject.String():
			s.markUsed(cl.ID, now)
			return *cl, nil
		}
	}
	target := "unknown-client"
	if ok {
		target = "app:" + cl.ClientID
	}
	s.record(ctx, s.entry(a, "app.auth", target, "failed", map[string]string{"method": "tls_client_auth"}))
	return Client{}, fmt.Errorf("identity: %w: %w", api.ErrBadLogin, ErrCertMismatch)
}

func (s *Clients) markUsed(id string, now time.Time) {
	s.useMu.Lock()
	if s.used == nil {
		s.used = map[string]time.Time{}
	}
	s.used[id] = now
	s.useMu.Unlock()
}

// RecordClientUse stores the last use of every application that
// authenticated since the previous call, in one transaction: the review's
// "last use" without a store write per token. The token layer calls it
// with its per-minute audit summary.
func (s *Clients) RecordClientUse() error {
	s.useMu.Lock()
	used := s.used
	s.used = nil
	s.useMu.Unlock()
	if len(used) == 0 {
		return nil
	}
	err := s.st.Update(func(tx *store.Tx) error {
		for id, t := range used {
			if _, err := tx.Logins().Put(id, func(l store.LoginState) (store.LoginState, error) {
				if t.After(l.LastLoginAt) {
					l.LastLoginAt = t.UTC()
				}
				return l, nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr("record last use of applications", err)
	}
	return nil
}

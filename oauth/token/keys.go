package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// retireSlack is how long a retired key stays in JWKS beyond the lifetime
// of the last token it signed: clock differences of verifiers.
const retireSlack = 5 * time.Minute

// Keys holds the signing keys: the active one signs, the next one is
// already published so that verifiers which cache JWKS know it before it
// signs, and retired ones stay published until every token they signed
// has expired. Private halves live in the store as sealed fields and in
// memory while serving.
type Keys struct {
	st       keyStore
	alg      string
	rotation time.Duration
	ttl      time.Duration // access-token lifetime
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger

	mu     sync.Mutex // serialises rotation
	active atomic.Pointer[activeKey]
	pub    atomic.Pointer[publicSet]
}

type activeKey struct {
	kid, alg string
	signer   jose.Signer
	// idSigner signs ID tokens with the same key under typ "JWT", so an
	// ID token is never taken for an access token (parse wants at+jwt).
	idSigner  jose.Signer
	createdAt time.Time
}

// publicSet is what verification and JWKS read, replaced as a whole.
type publicSet struct {
	keys map[string]jose.JSONWebKey
	jwks []byte
}

// keyStore is where the signing keys live; *store.Store provides it.
type keyStore interface {
	Update(fn func(tx *store.Tx) error) error
	SigningKeys() *store.SigningKeyRepo
}

// newKeys loads the keys from the store and rotates as due.
func newKeys(st keyStore, cfg Config, now func() time.Time, rnd io.Reader, log *slog.Logger) (*Keys, error) {
	k := &Keys{st: st, alg: cfg.SigningAlg, rotation: cfg.KeyRotation.Duration, ttl: cfg.AccessTTL.Duration,
		now: now, rand: rnd, log: log}
	if err := k.Maintain(false); err != nil {
		return nil, err
	}
	return k, nil
}

// Maintain rotates when the active key is older than key_rotation, has
// another algorithm than the config, or force is set; keeps a next key
// published; and drops keys whose last token has expired. It runs at
// start, on a schedule and for `accessctl keys rotate`.
func (k *Keys) Maintain(force bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now().UTC()
	var rotated *store.SigningKey
	var activeKID string
	err := k.st.Update(func(tx *store.Tx) error {
		rotated = nil
		keys, err := tx.SigningKeys().List()
		if err != nil {
			return err
		}
		var active, next *store.SigningKey
		for i := range keys {
			sk := &keys[i]
			switch {
			case !sk.RetiredAt.IsZero():
				if !sk.NotAfter.After(now) {
					if err := tx.SigningKeys().Delete(sk.KID); err != nil {
						return err
					}
				}
			case !sk.ActivatesAt.After(now):
				if active == nil || sk.ActivatesAt.After(active.ActivatesAt) {
					if active != nil { // two active keys cannot be: retire the older
						if err := k.retire(tx, active, now); err != nil {
							return err
						}
					}
					active = sk
				} else if err := k.retire(tx, sk, now); err != nil {
					return err
				}
			default:
				next = sk
			}
		}
		due := active == nil || force || active.Alg != k.alg || !active.ActivatesAt.Add(k.rotation).After(now)
		if due {
			if active != nil {
				if err := k.retire(tx, active, now); err != nil {
					return err
				}
			}
			if next != nil && next.Alg == k.alg {
				n, err := tx.SigningKeys().Update(next.KID, func(o store.SigningKey) (store.SigningKey, error) {
					o.ActivatesAt = now
					return o, nil
				})
				if err != nil {
					return err
				}
				active, next = &n, nil
			} else {
				if next != nil { // made for another algorithm: never signs
					if err := k.retire(tx, next, now); err != nil {
						return err
					}
				}
				n, err := k.create(tx, now)
				if err != nil {
					return err
				}
				active, next = &n, nil
			}
			rotated = active
		}
		if next == nil {
			if _, err := k.create(tx, active.ActivatesAt.Add(k.rotation)); err != nil {
				return err
			}
		}
		activeKID = active.KID
		return nil
	})
	if err != nil {
		return fmt.Errorf("token: signing keys: %w", err)
	}
	// Load the private half when the active key changed: by this
	// rotation, or because the published next key's time came.
	prev := k.active.Load()
	if prev == nil || prev.kid != activeKID {
		if err := k.load(); err != nil {
			return err
		}
	} else if err := k.publish(); err != nil {
		return err
	}
	if rotated != nil {
		k.log.Info("signing key rotated", "event", "token.key_rotated", "kid", rotated.KID, "alg", rotated.Alg)
	} else if prev != nil && prev.kid != activeKID {
		k.log.Info("signing key activated", "event", "token.key_activated", "kid", activeKID)
	}
	return nil
}

func (k *Keys) retire(tx *store.Tx, sk *store.SigningKey, now time.Time) error {
	_, err := tx.SigningKeys().Update(sk.KID, func(o store.SigningKey) (store.SigningKey, error) {
		o.RetiredAt = now
		o.NotAfter = now.Add(k.ttl + retireSlack)
		return o, nil
	})
	return err
}

// create makes a key of the configured algorithm that activates at t.
func (k *Keys) create(tx *store.Tx, t time.Time) (store.SigningKey, error) {
	priv, err := generate(k.alg, k.rand)
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	defer clear(der)
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	var id [12]byte
	if _, err := io.ReadFull(k.rand, id[:]); err != nil {
		return store.SigningKey{}, err
	}
	kid := base64.RawURLEncoding.EncodeToString(id[:])
	sealed, err := tx.SigningKeys().SealPrivate(kid, der)
	if err != nil {
		return store.SigningKey{}, err
	}
	return tx.SigningKeys().Create(store.SigningKey{KID: kid, Alg: k.alg, Private: sealed, Public: pub, ActivatesAt: t})
}

func generate(alg string, rnd io.Reader) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rnd)
	case "RS256":
		return rsa.GenerateKey(rnd, 2048)
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rnd)
		return priv, err
	}
	return nil, fmt.Errorf("token: unknown signing algorithm %q", alg)
}

// load reads the active key's private half into memory and publishes.
func (k *Keys) load() error {
	keys, err := k.st.SigningKeys().List()
	if err != nil {
		return fmt.Errorf("token: load signing keys: %w", err)
	}
	now := k.now()
	var act *store.SigningKey
	for i := range keys {
		sk := &keys[i]
		if sk.RetiredAt.IsZero() && !sk.ActivatesAt.After(now) && (act == nil || sk.ActivatesAt.After(act.ActivatesAt)) {
			act = sk
		}
	}
	if act == nil {
		return errors.New("token: no active signing key")
	}
	der, err := k.st.SigningKeys().OpenPrivate(*act)
	if err != nil {
		return fmt.Errorf("token: open signing key %s: %w", act.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return fmt.Errorf("token: parse signing key %s: %w", act.KID, err)
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), act.KID)
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(act.Alg), Key: priv}, opts)
	if err != nil {
		return fmt.Errorf("token: signer for %s: %w", act.KID, err)
	}
	idOpts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), act.KID)
	idSg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(act.Alg), Key: priv}, idOpts)
	if err != nil {
		return fmt.Errorf("token: ID token signer for %s: %w", act.KID, err)
	}
	k.active.Store(&activeKey{kid: act.KID, alg: act.Alg, signer: sg, idSigner: idSg, createdAt: act.CreatedAt})
	return k.publishFrom(keys)
}

func (k *Keys) publish() error {
	keys, err := k.st.SigningKeys().List()
	if err != nil {
		return fmt.Errorf("token: load signing keys: %w", err)
	}
	return k.publishFrom(keys)
}

func (k *Keys) publishFrom(keys []store.SigningKey) error {
	now := k.now()
	ps := &publicSet{keys: map[string]jose.JSONWebKey{}}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, sk := range keys {
		if !sk.RetiredAt.IsZero() && !sk.NotAfter.After(now) {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(sk.Public)
		if err != nil {
			return fmt.Errorf("token: public key %s: %w", sk.KID, err)
		}
		jwk := jose.JSONWebKey{Key: pub, KeyID: sk.KID, Algorithm: sk.Alg, Use: "sig"}
		ps.keys[sk.KID] = jwk
		set.Keys = append(set.Keys, jwk)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	ps.jwks = b
	k.pub.Store(ps)
	return nil
}

// JWKS is the published key set (RFC 7517), for /.well-known/jwks.json.
func (k *Keys) JWKS() []byte { return k.pub.Load().jwks }

// key returns the public key with kid, if published.
func (k *Keys) key(kid string) (jose.JSONWebKey, bool) {
	j, ok := k.pub.Load().keys[kid]
	return j, ok
}

// algs lists the algorithms of published keys, for parsing.
var verifyAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// ActiveAge is how long the active key has existed, for metrics.
func (k *Keys) ActiveAge() time.Duration {
	a := k.active.Load()
	if a == nil {
		return 0
	}
	return k.now().Sub(a.createdAt)
}

// List describes every key for `accessctl keys list`; no private half.
func (k *Keys) List() ([]api.SigningKey, error) {
	keys, err := k.st.SigningKeys().List()
	if err != nil {
		return nil, fmt.Errorf("token: list signing keys: %w", err)
	}
	now := k.now()
	out := make([]api.SigningKey, 0, len(keys))
	for _, sk := range keys {
		state := "retired"
		switch {
		case sk.RetiredAt.IsZero() && sk.ActivatesAt.After(now):
			state = "next"
		case sk.RetiredAt.IsZero():
			state = "active"
		}
		out = append(out, api.SigningKey{KID: sk.KID, Alg: sk.Alg, State: state, CreatedAt: sk.CreatedAt,
			ActivatesAt: sk.ActivatesAt, RetiredAt: sk.RetiredAt, PublishedUntil: sk.NotAfter})
	}
	return out, nil
}

package store

import (
	"fmt"
	"time"
)

// SigningKey is a token signing key. The private half is sealed to its
// record (SigningKeyRepo.SealPrivate); Public is the PKIX DER that JWKS
// serves until NotAfter, after every token it signed has expired.
type SigningKey struct {
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	Private   Sealed    `json:"private"`
	Public    []byte    `json:"public"`
	CreatedAt time.Time `json:"createdAt"`
	// ActivatesAt is when the key starts signing: a key is published in
	// JWKS before it signs, so verifiers that cache JWKS know it in time.
	ActivatesAt time.Time `json:"activatesAt"`
	// RetiredAt is when the key stopped signing; zero while active.
	RetiredAt time.Time `json:"retiredAt"`
	// NotAfter is when the public key may leave JWKS.
	NotAfter time.Time `json:"notAfter"`
	Version  uint64    `json:"version"`
}

// FieldSigningKeyPrivate is the field name private keys are sealed under.
const FieldSigningKeyPrivate = "private"

// SigningKeyRecordKey is the record key a signing key's private half is
// sealed to.
func SigningKeyRecordKey(kid string) string { return "signingkey/" + kid }

func signingKeyTable(s *Store) *table[SigningKey] {
	return &table[SigningKey]{
		s: s, name: "signingkey", prefix: []byte("signingkey/"),
		id:      func(k *SigningKey) string { return k.KID },
		version: func(k *SigningKey) *uint64 { return &k.Version },
		indexes: func(*SigningKey) [][]byte { return nil },
		create: func(k *SigningKey, now time.Time) error {
			if k.CreatedAt.IsZero() {
				k.CreatedAt = now
			}
			return nil
		},
		update: func(_, _ *SigningKey, _ time.Time) error { return nil },
		sealed: []sealedField[SigningKey]{{name: FieldSigningKeyPrivate,
			recordKey: func(k *SigningKey) string { return SigningKeyRecordKey(k.KID) },
			field:     func(k *SigningKey) *Sealed { return &k.Private }}},
	}
}

// SigningKeyRepo stores signing keys by key ID.
type SigningKeyRepo struct {
	t *table[SigningKey]
	x exec
}

// Create stores a new key; KID is required, ErrExists when taken.
func (r *SigningKeyRepo) Create(k SigningKey) (SigningKey, error) { return r.t.doCreate(r.x, k) }

// Get returns the key with the given KID, or ErrNotFound.
func (r *SigningKeyRepo) Get(kid string) (SigningKey, error) { return r.t.doGet(r.x, kid) }

// Update has UserRepo.Update's contract (retiring a key sets RetiredAt).
func (r *SigningKeyRepo) Update(kid string, fn func(old SigningKey) (SigningKey, error)) (SigningKey, error) {
	return r.t.doUpdate(r.x, kid, fn)
}

// Delete removes a key once it has left JWKS.
func (r *SigningKeyRepo) Delete(kid string) error { return r.t.doDelete(r.x, kid) }

// List returns every key, in KID order; there are only a handful.
func (r *SigningKeyRepo) List() ([]SigningKey, error) { return r.t.doList(r.x, "", 0) }

// SealPrivate seals a private key's encoding (e.g. PKCS#8 DER) for the key
// with the given KID. The caller clears der.
func (r *SigningKeyRepo) SealPrivate(kid string, der []byte) (Sealed, error) {
	return r.t.s.Barrier().SealField(SigningKeyRecordKey(kid), FieldSigningKeyPrivate, der)
}

// OpenPrivate opens k.Private. The caller clears the result.
func (r *SigningKeyRepo) OpenPrivate(k SigningKey) ([]byte, error) {
	if len(k.Private) == 0 {
		return nil, fmt.Errorf("store: open field %q: key has no private half: %w", FieldSigningKeyPrivate, ErrNotFound)
	}
	return r.t.s.Barrier().OpenField(SigningKeyRecordKey(k.KID), FieldSigningKeyPrivate, k.Private)
}

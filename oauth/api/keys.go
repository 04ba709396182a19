package api

import "time"

// FieldRotation answers POST /v1/keys/rotate-fields (`accessctl keys
// rotate-fields`): every sealed field was re-sealed under Term, and
// every term up to Retired opens nothing any more.
type FieldRotation struct {
	Term     uint32 `json:"term"`
	Retired  uint32 `json:"retired"`
	Resealed int    `json:"resealed"`
	Records  int    `json:"records"`
	Resumed  bool   `json:"resumed"`
}

// SigningKey describes one token signing key for `accessctl keys list`
// (GET /v1/keys): never its private half.
type SigningKey struct {
	KID   string `json:"kid"`
	Alg   string `json:"alg"`
	State string `json:"state"` // "active", "next" (published, not yet signing) or "retired"
	// CreatedAt, ActivatesAt, RetiredAt and PublishedUntil say when the
	// key was made, signs from, stopped signing, and leaves JWKS.
	CreatedAt      time.Time `json:"createdAt"`
	ActivatesAt    time.Time `json:"activatesAt"`
	RetiredAt      time.Time `json:"retiredAt,omitzero"`
	PublishedUntil time.Time `json:"publishedUntil,omitzero"`
}

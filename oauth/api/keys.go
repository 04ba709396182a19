package api

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

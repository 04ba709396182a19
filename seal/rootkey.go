package seal

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
)

// RootKeySize is the size of the root key: 256 bits.
const RootKeySize = 32

// RootKey is accessd's root key. It is a distinct type so that it cannot be
// printed, logged or serialised by accident: it has no String method, every
// fmt verb prints "seal.RootKey(redacted)", it marshals to JSON as {}, and
// == does not compile. Copies of a RootKey share the same bytes, so Destroy
// on any copy zeroes them all.
type RootKey struct {
	_ [0]func() // not comparable
	k *[RootKeySize]byte
}

// NewRootKey draws a root key from r; nil means crypto/rand.
func NewRootKey(r io.Reader) (RootKey, error) {
	if r == nil {
		r = rand.Reader
	}
	k := new([RootKeySize]byte)
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return RootKey{}, fmt.Errorf("seal: generate root key: %w", err)
	}
	return RootKey{k: k}, nil
}

// rootKeyFrom copies b, which must be RootKeySize bytes, into a RootKey.
func rootKeyFrom(b []byte) RootKey {
	k := new([RootKeySize]byte)
	copy(k[:], b)
	return RootKey{k: k}
}

// Bytes returns the key itself, not a copy, for handing to key derivation.
// The slice is valid until Destroy; do not keep it, log it or format it. It
// is nil for the zero RootKey.
func (k RootKey) Bytes() []byte {
	if k.k == nil {
		return nil
	}
	return k.k[:]
}

// Equal reports in constant time whether k and o hold the same key. The
// zero RootKey equals nothing.
func (k RootKey) Equal(o RootKey) bool {
	if k.k == nil || o.k == nil {
		return false
	}
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// Destroy zeroes the key (and every copy of this RootKey). Best-effort: the
// runtime or a library may have copied the bytes elsewhere.
func (k RootKey) Destroy() {
	if k.k != nil {
		clear(k.k[:])
	}
}

// valid reports whether k holds a key.
func (k RootKey) valid() bool { return k.k != nil }

// Format prints a placeholder under every verb, so that a RootKey passed to
// a formatter or a logger by mistake shows nothing of the key.
func (k RootKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "seal.RootKey(redacted)")
}

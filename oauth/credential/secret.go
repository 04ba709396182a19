package credential

import (
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Pepper computes a keyed MAC of msg for one purpose. The store
// implements it with a key derived from the root key (HMAC-SHA-256), so a
// copy of the database without the sealed root key cannot test guesses
// against the hashes it holds. purpose separates the uses of the key, so a
// client-secret hash can never stand in for a recovery-code hash. The
// purposes this package passes are fixed forever: stored hashes depend on
// them.
type Pepper interface {
	Sum(purpose string, msg []byte) []byte
}

// Purposes passed to Pepper.Sum. Never change them: every stored hash was
// made with them.
const (
	// PurposeClientSecret is the purpose of HashClientSecret.
	PurposeClientSecret = "accessd client secret v1"
	// PurposeRecoveryCode is the purpose of recovery-code hashes.
	PurposeRecoveryCode = "accessd recovery code v1"
)

// ClientSecretPrefix starts every client secret, so that secret scanners
// (and people) recognise a leaked one.
const ClientSecretPrefix = "acs_"

// clientSecretBytes is the randomness of a client secret: 256 bits.
const clientSecretBytes = 32

// clientSecretLen is the length of a rendered client secret.
var clientSecretLen = len(ClientSecretPrefix) + base64.RawURLEncoding.EncodedLen(clientSecretBytes)

// ClientSecret is an application's secret, shown once when it is made and
// then only ever held as a hash. It cannot be compared with == (compare
// hashes with VerifyClientSecret), and it has no printable or JSON form:
// fmt, slog and encoding/json print "[redacted]" or fail, so it cannot
// reach a log line or an answer by accident. Reveal is the one deliberate
// way out. The zero value is empty.
type ClientSecret struct {
	b []byte // the rendered form, "acs_" + base64url(32 random bytes)
}

// NewClientSecret returns a new secret of 256 random bits from rnd.
func NewClientSecret(rnd io.Reader) (ClientSecret, error) {
	raw := make([]byte, clientSecretBytes)
	defer clear(raw)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return ClientSecret{}, fmt.Errorf("identity: client secret: %w", err)
	}
	b := make([]byte, clientSecretLen)
	copy(b, ClientSecretPrefix)
	base64.RawURLEncoding.Encode(b[len(ClientSecretPrefix):], raw)
	return ClientSecret{b: b}, nil
}

// Reveal returns the secret as the application will present it, for the
// one answer that shows it. The string cannot be cleared afterwards; show
// it and drop it.
func (s ClientSecret) Reveal() string { return string(s.b) }

// Hash returns the hash to store: HashClientSecret of the rendered secret.
func (s ClientSecret) Hash(p Pepper) []byte { return HashClientSecret(p, s.b) }

// Clear zeroes the secret (best effort: Go may have copied it, and a
// string from Reveal is beyond reach).
func (s *ClientSecret) Clear() {
	clear(s.b)
	s.b = nil
}

// String returns "[redacted]", so %v and %s never print the secret.
func (ClientSecret) String() string { return "[redacted]" }

// GoString returns "[redacted]", so %#v never prints the secret.
func (ClientSecret) GoString() string { return "[redacted]" }

// Format prints "[redacted]" for every verb, %x and %q included.
func (ClientSecret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[redacted]") }

// LogValue keeps the secret out of slog output.
func (ClientSecret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// ErrNoSerialisation is returned by the marshal methods of secrets.
var ErrNoSerialisation = errors.New("identity: a client secret has no serialised form; use Reveal once, store only its Hash")

// MarshalJSON fails: a secret placed in a JSON answer or record by mistake
// breaks the encoding rather than leaking. The one-time answer puts
// Reveal() in its string field explicitly.
func (ClientSecret) MarshalJSON() ([]byte, error) { return nil, ErrNoSerialisation }

// MarshalText fails, for the same reason as MarshalJSON (it also covers
// encoding/xml, TOML and slog's text handlers).
func (ClientSecret) MarshalText() ([]byte, error) { return nil, ErrNoSerialisation }

// wellFormedClientSecret reports whether presented looks like a secret
// NewClientSecret made: the prefix and 43 base64url characters. It is the
// parser of what clients present; a malformed secret can match no stored
// hash, so it is refused without hashing (what it reveals, the format, is
// public).
func wellFormedClientSecret(presented []byte) bool {
	if len(presented) != clientSecretLen || string(presented[:len(ClientSecretPrefix)]) != ClientSecretPrefix {
		return false
	}
	for _, c := range presented[len(ClientSecretPrefix):] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// The last character carries 2 bits that must be zero (Strict), so
	// each secret has exactly one spelling. (The loop above matters too:
	// the decoder would skip CR and LF.)
	var raw [clientSecretBytes]byte
	defer clear(raw[:])
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], presented[len(ClientSecretPrefix):])
	return err == nil && n == clientSecretBytes
}

// Imported client secrets are whatever the previous system generated
// (Lerian's are UUIDs, Casdoor's 40 hex digits). They are kept under the
// same keyed HMAC as accessd's own, which is safe only for secrets too
// random to guess: so an imported secret must be 32 to 256 printable
// ASCII characters without spaces.
const (
	MinImportedSecret = 32
	MaxImportedSecret = 256
)

// wellFormedImportedSecret reports whether presented can be an imported
// secret. Like wellFormedClientSecret it decides, before any hashing,
// that a presented string can match nothing.
func wellFormedImportedSecret(presented []byte) bool {
	if len(presented) < MinImportedSecret || len(presented) > MaxImportedSecret {
		return false
	}
	for _, c := range presented {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// WellFormedSecret reports whether presented can be a client secret at
// all, one NewClientSecret made or an imported one, before any hashing.
func WellFormedSecret(presented []byte) bool {
	return wellFormedClientSecret(presented) || wellFormedImportedSecret(presented)
}

// HashClientSecret returns the hash under which a client secret is
// stored: the pepper's HMAC of the rendered secret. A client secret has
// 256 random bits, so unlike a password it needs no slow hash to resist
// guessing; a keyed MAC costs microseconds per grant, which matters at
// thousands of machine tokens a second.
func HashClientSecret(p Pepper, s []byte) []byte { return p.Sum(PurposeClientSecret, s) }

// VerifyClientSecret reports which of an application's stored hashes (at
// most a couple: the current secret and one in its rotation grace period)
// the presented secret matches. A secret is either one NewClientSecret
// made or one moved in by accessctl import (wellFormedImportedSecret).
// Every hash is compared, in constant time,
// whatever matched earlier, so the timing says nothing about which one
// matched or how many there are to match. A malformed secret matches none.
func VerifyClientSecret(p Pepper, presented []byte, hashes [][]byte) (index int, ok bool) {
	if !wellFormedClientSecret(presented) && !wellFormedImportedSecret(presented) {
		return -1, false
	}
	sum := HashClientSecret(p, presented)
	defer clear(sum)
	return matchHash(sum, hashes)
}

// matchHash compares sum with every hash with hmac.Equal, without an early
// exit, and selects the first match's index in constant time.
func matchHash(sum []byte, hashes [][]byte) (index int, ok bool) {
	found, idx := 0, -1
	for i, h := range hashes {
		eq := 0
		if hmac.Equal(sum, h) {
			eq = 1
		}
		take := eq &^ found
		idx = subtle.ConstantTimeSelect(take, i, idx)
		found |= eq
	}
	return idx, found == 1
}

// clientIDAlphabet is Crockford's base32 in lower case: URL-safe, without
// i, l, o and u, so IDs read aloud or copied by hand survive.
const clientIDAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// ClientIDLength is the length of an application's client ID (100 bits).
const ClientIDLength = 20

// NewClientID returns a random client ID: 20 characters of lower-case
// base32, 100 bits. A client ID is not a secret (it names the application
// in tokens and subjects, "<owner>/<clientId>"), but random IDs cannot be
// enumerated or guessed from a name.
func NewClientID(rnd io.Reader) (string, error) {
	raw := make([]byte, ClientIDLength)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return "", fmt.Errorf("identity: client ID: %w", err)
	}
	for i, b := range raw {
		raw[i] = clientIDAlphabet[b&31] // 256 is a multiple of 32: uniform
	}
	return string(raw), nil
}

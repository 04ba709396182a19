package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
)

// Recovery key text: base32 (RFC 4648 alphabet, no padding) of the 32-byte
// key followed by a 5-byte checksum, 60 characters printed as 10 groups of 6
// joined by dashes. 296 bits fill 60 characters with 4 bits to spare, which
// must be zero.
const (
	recoveryKeySize     = 32
	recoveryChecksum    = 5
	recoveryTextLen     = 60
	recoveryGroup       = 6
	recoveryChecksumTag = "accessd recovery key checksum\x00"
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// RecoveryKey unwraps root.recovery when the TPM cannot unseal root.sealed.
// It is shown once, at init, and never stored. Like RootKey it has no String
// method, formats as "seal.RecoveryKey(redacted)" and marshals to JSON as {};
// Reveal is the one way to get its text.
type RecoveryKey struct {
	_ [0]func() // not comparable
	k *[recoveryKeySize]byte
}

// NewRecoveryKey draws a 256-bit recovery key from r; nil means crypto/rand.
func NewRecoveryKey(r io.Reader) (RecoveryKey, error) {
	if r == nil {
		r = rand.Reader
	}
	k := new([recoveryKeySize]byte)
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return RecoveryKey{}, fmt.Errorf("seal: generate recovery key: %w", err)
	}
	return RecoveryKey{k: k}, nil
}

// recoveryCheck is the checksum that catches typos in the printed form.
func recoveryCheck(key []byte) [recoveryChecksum]byte {
	return typoCheck(recoveryChecksumTag, key)
}

// typoCheck is the checksum of a printed form (a recovery key, a share):
// the first bytes of SHA-256 over the form's tag and b.
func typoCheck(tag string, b []byte) [recoveryChecksum]byte {
	h := sha256.New()
	h.Write([]byte(tag))
	h.Write(b)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var c [recoveryChecksum]byte
	copy(c[:], sum[:])
	return c
}

// RecoveryTextSize is the length of the printed recovery key: 60 base32
// characters in groups of 6, with 9 dashes.
const RecoveryTextSize = recoveryTextLen + recoveryTextLen/recoveryGroup - 1

// Reveal returns the text to show the operator, e.g.
// "ABCDEF-GHIJKL-…" (10 groups of 6). It is named so that revealing the key
// is a visible act in code review. The string cannot be zeroed: prefer
// AppendReveal where the text can live in a buffer that is cleared.
func (k RecoveryKey) Reveal() string {
	b := k.AppendReveal(nil)
	defer clear(b)
	return string(b)
}

// AppendReveal appends the text Reveal returns to dst, so a caller can
// print the key from a buffer it clears afterwards. Give dst room for
// RecoveryTextSize more bytes first, or append may leave a copy behind in
// an old backing array (zeroing is best-effort either way).
func (k RecoveryKey) AppendReveal(dst []byte) []byte {
	if k.k == nil {
		return dst
	}
	var raw [recoveryKeySize + recoveryChecksum]byte
	copy(raw[:], k.k[:])
	c := recoveryCheck(k.k[:])
	copy(raw[recoveryKeySize:], c[:])
	var enc [recoveryTextLen]byte
	recoveryEncoding.Encode(enc[:], raw[:])
	clear(raw[:])
	for i := 0; i < len(enc); i += recoveryGroup {
		if i > 0 {
			dst = append(dst, '-')
		}
		dst = append(dst, enc[i:i+recoveryGroup]...)
	}
	clear(enc[:])
	return dst
}

// ParseRecoveryKey reads a recovery key as an operator types it: case is
// ignored, as are spaces, tabs, newlines and dashes, and the digits 0, 1 and
// 8 are read as the letters O, I and B they are mistaken for. The checksum
// catches typos; errors wrap ErrRecoveryKeyFormat and never quote the text.
// It takes the text as a string or as bytes, so a key read from a file can
// stay in a buffer the caller clears.
func ParseRecoveryKey[T string | []byte](text T) (RecoveryKey, error) {
	norm, err := normaliseTyped(text, recoveryTextLen)
	defer func() { clear(norm) }()
	switch {
	case errors.Is(err, errTypedChar):
		return RecoveryKey{}, fmt.Errorf("seal: parse recovery key: %w: %v; check for typos", ErrRecoveryKeyFormat, err)
	case err != nil:
		return RecoveryKey{}, fmt.Errorf("seal: parse recovery key: %w: more than %d letters and digits; check for typos", ErrRecoveryKeyFormat, recoveryTextLen)
	}
	if len(norm) != recoveryTextLen {
		return RecoveryKey{}, fmt.Errorf("seal: parse recovery key: %w: %d letters and digits, want %d (10 groups of 6); check for typos", ErrRecoveryKeyFormat, len(norm), recoveryTextLen)
	}
	var raw [recoveryKeySize + recoveryChecksum + 1]byte
	defer clear(raw[:])
	n, err := recoveryEncoding.Decode(raw[:], norm)
	if err != nil || n != recoveryKeySize+recoveryChecksum {
		return RecoveryKey{}, fmt.Errorf("seal: parse recovery key: %w: not base32; check for typos", ErrRecoveryKeyFormat)
	}
	// The last character carries 4 unused bits; only the canonical
	// (zero) value is accepted, so each key has one spelling.
	var canon [recoveryTextLen]byte
	recoveryEncoding.Encode(canon[:], raw[:n])
	same := subtle.ConstantTimeCompare(canon[:], norm) == 1
	clear(canon[:])
	if !same {
		return RecoveryKey{}, fmt.Errorf("seal: parse recovery key: %w: the last group is not valid; check for typos", ErrRecoveryKeyFormat)
	}
	want := recoveryCheck(raw[:recoveryKeySize])
	if subtle.ConstantTimeCompare(want[:], raw[recoveryKeySize:n]) != 1 {
		return RecoveryKey{}, fmt.Errorf("seal: parse recovery key: %w: the checksum does not match; check for typos", ErrRecoveryKeyFormat)
	}
	k := new([recoveryKeySize]byte)
	copy(k[:], raw[:recoveryKeySize])
	return RecoveryKey{k: k}, nil
}

// Equal reports in constant time whether k and o are the same key. The
// zero RecoveryKey equals nothing.
func (k RecoveryKey) Equal(o RecoveryKey) bool {
	if k.k == nil || o.k == nil {
		return false
	}
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// Destroy zeroes the key (and every copy of this RecoveryKey). Best-effort:
// the runtime may have copied the bytes, and text from Reveal or given to
// ParseRecoveryKey is an immutable string.
func (k RecoveryKey) Destroy() {
	if k.k != nil {
		clear(k.k[:])
	}
}

// valid reports whether k holds a key.
func (k RecoveryKey) valid() bool { return k.k != nil }

// Format prints a placeholder under every verb, so that a RecoveryKey passed
// to a formatter or a logger by mistake shows nothing of the key.
func (k RecoveryKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "seal.RecoveryKey(redacted)")
}

// errTypedChar and errTypedLong are normaliseTyped's refusals.
var (
	errTypedChar = errors.New("not a letter or a digit 2-7")
	errTypedLong = errors.New("too long")
)

// normaliseTyped reads base32 text as an operator types it, for recovery
// keys and their shares alike: case, spaces, newlines and dashes are
// ignored, and 0, 1 and 8 are read as the letters O, I and B they are
// mistaken for. It refuses more than max characters. Errors name the
// position, never the text; the caller clears the result.
func normaliseTyped[T string | []byte](text T, max int) ([]byte, error) {
	norm := make([]byte, 0, max)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '0':
			c = 'O'
		case c == '1':
			c = 'I'
		case c == '8':
			c = 'B'
		}
		if !(c >= 'A' && c <= 'Z') && !(c >= '2' && c <= '7') {
			return norm, fmt.Errorf("character %d is %w", i+1, errTypedChar)
		}
		if len(norm) == max {
			return norm, errTypedLong
		}
		norm = append(norm, c)
	}
	return norm, nil
}

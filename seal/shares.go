package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// # Split knowledge
//
// SplitRecoveryKey cuts a recovery key into N shares of which any M
// rebuild it (Shamir's scheme over GF(2^8), byte by byte, with the AES
// field polynomial x^8+x^4+x^3+x+1); fewer than M shares say nothing
// about the key. It is written here rather than imported: the Go module
// proxy this project builds from serves none of the small standalone
// packages (vault's shamir lives inside the whole vault module), and the
// arithmetic is a page. Multiplication is branch-free and inversion is
// exponentiation (a^254), so no table is indexed by a secret byte.
//
// A share, version 1, is 44 bytes:
//
//	version   u8      (1)
//	split     [4]byte random, the same in every share of one split
//	threshold u8      M, 2..255
//	x         u8      the share's point, 1..N
//	y         [32]byte one polynomial value per key byte
//	check     [5]byte SHA-256("accessd recovery share checksum\x00" || every byte above)[:5]
//
// printed as "ACCESSD-SHARE-" followed by the base32 (RFC 4648, no
// padding) of those bytes in groups of 6. The split identifier tells
// shares of two different splits apart, so mixing them is refused rather
// than yielding a wrong key; the checksum catches typos.
const (
	shareVersion     = 1
	shareSplitLen    = 4
	shareCheckLen    = recoveryChecksum
	shareLen         = 1 + shareSplitLen + 1 + 1 + recoveryKeySize + shareCheckLen
	shareTextPrefix  = "ACCESSD-SHARE-"
	shareNormPrefix  = "ACCESSDSHARE"
	shareChecksumTag = "accessd recovery share checksum\x00"
)

var (
	// ErrShareFormat means a text is not a recovery key share: wrong
	// length, a character outside the alphabet, or a failed checksum.
	ErrShareFormat = errors.New("malformed recovery key share")
	// ErrShares means the shares given cannot rebuild a key: too few,
	// repeated, or from different splits.
	ErrShares = errors.New("recovery key shares do not combine")
)

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 without branches or
// table lookups on its operands.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		hi := a >> 7
		a = a<<1 ^ 0x1b&-hi
		b >>= 1
	}
	return p
}

// gfInv returns a^-1 (a^254); gfInv(0) is 0, which callers never ask for.
func gfInv(a byte) byte {
	// a^254 = a^(2+4+8+16+32+64+128)
	r := byte(1)
	sq := gfMul(a, a)
	for range 7 {
		r = gfMul(r, sq)
		sq = gfMul(sq, sq)
	}
	return r
}

// RecoveryShare is one share of a split recovery key. Like the key it has
// no String method, formats as "seal.RecoveryShare(redacted)" and is
// zeroed by Destroy; Reveal gives its printed form.
type RecoveryShare struct {
	_ [0]func() // not comparable
	b *[shareLen]byte
}

// Threshold is M: how many shares of this split rebuild the key.
func (s RecoveryShare) Threshold() int {
	if s.b == nil {
		return 0
	}
	return int(s.b[5])
}

// Index is the share's number, 1..N.
func (s RecoveryShare) Index() int {
	if s.b == nil {
		return 0
	}
	return int(s.b[6])
}

// Destroy zeroes the share. Best-effort, like RecoveryKey.Destroy.
func (s RecoveryShare) Destroy() {
	if s.b != nil {
		clear(s.b[:])
	}
}

// Format prints a placeholder under every verb.
func (s RecoveryShare) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "seal.RecoveryShare(redacted)")
}

// shareCheck is the checksum that catches typos in a printed share.
func shareCheck(b []byte) [shareCheckLen]byte {
	return typoCheck(shareChecksumTag, b)
}

// shareTextLen is the number of base32 characters of a share.
var shareTextLen = recoveryEncoding.EncodedLen(shareLen)

// AppendReveal appends the printed share to dst ("ACCESSD-SHARE-" and
// groups of 6), for a caller that prints from a buffer it clears.
func (s RecoveryShare) AppendReveal(dst []byte) []byte {
	if s.b == nil {
		return dst
	}
	enc := make([]byte, shareTextLen)
	defer clear(enc)
	recoveryEncoding.Encode(enc, s.b[:])
	dst = append(dst, shareTextPrefix...)
	for i := 0; i < len(enc); i += recoveryGroup {
		if i > 0 {
			dst = append(dst, '-')
		}
		dst = append(dst, enc[i:min(i+recoveryGroup, len(enc))]...)
	}
	return dst
}

// Reveal returns the printed share. The string cannot be zeroed; prefer
// AppendReveal.
func (s RecoveryShare) Reveal() string {
	b := s.AppendReveal(nil)
	defer clear(b)
	return string(b)
}

// SplitRecoveryKey splits rk into n shares, any threshold of which
// rebuild it (2 <= threshold <= n <= 255). rand supplies the polynomial
// coefficients and the split identifier; nil means crypto/rand.
func SplitRecoveryKey(rk RecoveryKey, n, threshold int, r io.Reader) ([]RecoveryShare, error) {
	if !rk.valid() {
		return nil, errors.New("seal: split recovery key: no key given")
	}
	if threshold < 2 || n < threshold || n > 255 {
		return nil, fmt.Errorf("seal: split recovery key: %w: need 2 <= threshold <= shares <= 255, got %d of %d", ErrShares, threshold, n)
	}
	if r == nil {
		r = rand.Reader
	}
	var split [shareSplitLen]byte
	if _, err := io.ReadFull(r, split[:]); err != nil {
		return nil, fmt.Errorf("seal: split recovery key: read random: %w", err)
	}
	// coeffs[i][j] is the coefficient of x^(j+1) for key byte i.
	coeffs := make([]byte, recoveryKeySize*(threshold-1))
	defer clear(coeffs)
	if _, err := io.ReadFull(r, coeffs); err != nil {
		return nil, fmt.Errorf("seal: split recovery key: read random: %w", err)
	}
	shares := make([]RecoveryShare, n)
	for s := range shares {
		x := byte(s + 1)
		b := new([shareLen]byte)
		b[0] = shareVersion
		copy(b[1:5], split[:])
		b[5] = byte(threshold)
		b[6] = x
		for i := range recoveryKeySize {
			c := coeffs[i*(threshold-1) : (i+1)*(threshold-1)]
			// Horner: ((c[m-2] x + c[m-3]) x + ... + c[0]) x + secret
			var y byte
			for j := len(c) - 1; j >= 0; j-- {
				y = gfMul(y^c[j], x)
			}
			b[7+i] = y ^ rk.k[i]
		}
		c := shareCheck(b[:shareLen-shareCheckLen])
		copy(b[shareLen-shareCheckLen:], c[:])
		shares[s] = RecoveryShare{b: b}
	}
	return shares, nil
}

// ParseRecoveryShare reads one printed share as an operator types it:
// case, spaces, newlines and dashes are ignored, and 0, 1 and 8 are read
// as O, I and B. Errors wrap ErrShareFormat and never quote the text.
func ParseRecoveryShare[T string | []byte](text T) (RecoveryShare, error) {
	norm, err := normaliseTyped(text, len(shareNormPrefix)+shareTextLen)
	defer func() { clear(norm) }()
	switch {
	case errors.Is(err, errTypedChar):
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: %v; check for typos", ErrShareFormat, err)
	case err != nil:
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: too long; check for typos", ErrShareFormat)
	}
	if !bytes.HasPrefix(norm, []byte(shareNormPrefix)) {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: it does not start with %s", ErrShareFormat, shareTextPrefix)
	}
	body := norm[len(shareNormPrefix):]
	if len(body) != shareTextLen {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: %d letters and digits after the prefix, want %d; check for typos", ErrShareFormat, len(body), shareTextLen)
	}
	var raw [shareLen + 1]byte
	defer clear(raw[:])
	n, err := recoveryEncoding.Decode(raw[:], body)
	if err != nil || n != shareLen {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: not base32; check for typos", ErrShareFormat)
	}
	canon := make([]byte, shareTextLen)
	recoveryEncoding.Encode(canon, raw[:n])
	same := subtle.ConstantTimeCompare(canon, body) == 1
	clear(canon)
	if !same {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: the last group is not valid; check for typos", ErrShareFormat)
	}
	want := shareCheck(raw[:shareLen-shareCheckLen])
	if subtle.ConstantTimeCompare(want[:], raw[shareLen-shareCheckLen:shareLen]) != 1 {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: the checksum does not match; check for typos", ErrShareFormat)
	}
	if raw[0] != shareVersion {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: unsupported version %d", ErrShareFormat, raw[0])
	}
	if raw[5] < 2 || raw[6] == 0 {
		return RecoveryShare{}, fmt.Errorf("seal: parse recovery share: %w: threshold or index out of range", ErrShareFormat)
	}
	b := new([shareLen]byte)
	copy(b[:], raw[:shareLen])
	return RecoveryShare{b: b}, nil
}

// CombineRecoveryShares rebuilds the recovery key from at least threshold
// shares of one split. Too few, repeated or mixed shares wrap ErrShares;
// the error says how many are needed, never anything of their content.
func CombineRecoveryShares(shares []RecoveryShare) (RecoveryKey, error) {
	if len(shares) == 0 {
		return RecoveryKey{}, fmt.Errorf("seal: combine recovery shares: %w: no shares given", ErrShares)
	}
	for _, s := range shares {
		if s.b == nil {
			return RecoveryKey{}, fmt.Errorf("seal: combine recovery shares: %w: empty share", ErrShares)
		}
	}
	first := shares[0].b
	m := int(first[5])
	seen := map[byte]bool{}
	for _, s := range shares {
		if !bytes.Equal(s.b[1:5], first[1:5]) || s.b[5] != first[5] {
			return RecoveryKey{}, fmt.Errorf("seal: combine recovery shares: %w: the shares come from different splits (each `init` or `rekey-recovery` makes a new set)", ErrShares)
		}
		if seen[s.b[6]] {
			return RecoveryKey{}, fmt.Errorf("seal: combine recovery shares: %w: share %d was given twice", ErrShares, s.b[6])
		}
		seen[s.b[6]] = true
	}
	if len(shares) < m {
		return RecoveryKey{}, fmt.Errorf("seal: combine recovery shares: %w: %d given, this split needs %d; ask more share holders", ErrShares, len(shares), m)
	}
	use := shares[:m]
	// Lagrange basis at 0: l_j = prod_{k != j} x_k / (x_k - x_j); in
	// GF(2^8) subtraction is xor.
	basis := make([]byte, m)
	for j := range use {
		num, den := byte(1), byte(1)
		xj := use[j].b[6]
		for k := range use {
			if k == j {
				continue
			}
			xk := use[k].b[6]
			num = gfMul(num, xk)
			den = gfMul(den, xk^xj)
		}
		basis[j] = gfMul(num, gfInv(den))
	}
	k := new([recoveryKeySize]byte)
	for i := range recoveryKeySize {
		var v byte
		for j := range use {
			v ^= gfMul(basis[j], use[j].b[7+i])
		}
		k[i] = v
	}
	return RecoveryKey{k: k}, nil
}

// IsRecoveryShareText reports whether text holds shares rather than a
// recovery key (after leading white space it starts with the share
// prefix, in any case), so a command can take either from one input. It
// copies nothing of text.
func IsRecoveryShareText[T string | []byte](text T) bool {
	i := 0
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n') {
		i++
	}
	if len(text)-i < len(shareTextPrefix) {
		return false
	}
	for j := 0; j < len(shareTextPrefix); j++ {
		c := text[i+j]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != shareTextPrefix[j] {
			return false
		}
	}
	return true
}

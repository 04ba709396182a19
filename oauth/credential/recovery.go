package credential

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// RecoveryCodeCount is how many recovery codes MFA setup hands out.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32 in lower case: 32 symbols, so 10
// characters carry exactly 50 bits, and the look-alikes are left out (no
// i, l, o, u) or read as the digit they resemble when typed (see
// normaliseRecoveryCode).
const recoveryAlphabet = clientIDAlphabet

// recoveryCodeChars is the number of symbols in a code (50 bits).
const recoveryCodeChars = 10

// NewRecoveryCodes returns n one-time MFA recovery codes for display, in
// the form "xxxxx-xxxxx" (50 random bits each), and their hashes for
// storage, in the same order: the pepper's HMAC of each code's canonical
// form. Codes are random and long enough that a keyed MAC suffices: a copy
// of the database without the key gives an attacker nothing to test
// guesses against, and online guessing is limited by lockout.
func NewRecoveryCodes(rnd io.Reader, n int, key Pepper) (codes []string, hashes [][]byte, err error) {
	if n < 1 || n > 100 {
		return nil, nil, fmt.Errorf("identity: recovery codes: count %d out of range 1-100", n)
	}
	var raw [8]byte
	defer clear(raw[:])
	canon := make([]byte, recoveryCodeChars)
	defer clear(canon)
	for range n {
		if _, err := io.ReadFull(rnd, raw[:]); err != nil {
			return nil, nil, fmt.Errorf("identity: recovery codes: %w", err)
		}
		v := binary.BigEndian.Uint64(raw[:])
		for i := range canon {
			canon[i] = recoveryAlphabet[v&31]
			v >>= 5
		}
		codes = append(codes, string(canon[:5])+"-"+string(canon[5:]))
		hashes = append(hashes, key.Sum(PurposeRecoveryCode, canon))
	}
	return codes, hashes, nil
}

// errBadRecoveryCode is the one error of normaliseRecoveryCode; the
// caller answers as for a wrong code.
var errBadRecoveryCode = errors.New("identity: malformed recovery code")

// normaliseRecoveryCode returns the canonical form of what a user typed:
// case, dashes and spaces ignored, and the look-alikes Crockford's base32
// leaves out read as what they resemble (o as 0, i and l as 1). It is the
// parser of untrusted input and refuses anything that is not 10 symbols.
func normaliseRecoveryCode(code string) ([]byte, error) {
	if len(code) > 64 {
		return nil, errBadRecoveryCode
	}
	out := make([]byte, 0, recoveryCodeChars)
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		switch c {
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') || c == 'u' || len(out) == recoveryCodeChars {
			clear(out)
			return nil, errBadRecoveryCode
		}
		out = append(out, c)
	}
	if len(out) != recoveryCodeChars {
		clear(out)
		return nil, errBadRecoveryCode
	}
	return out, nil
}

// MatchRecoveryCode reports which stored hash the typed code matches. The
// caller then deletes that hash, so each code works once. Every hash is
// compared in constant time, with no early exit, so timing reveals
// neither which code matched nor how many are left. A malformed code
// matches none.
func MatchRecoveryCode(code string, hashes [][]byte, key Pepper) (index int, ok bool) {
	canon, err := normaliseRecoveryCode(code)
	if err != nil {
		return -1, false
	}
	defer clear(canon)
	sum := key.Sum(PurposeRecoveryCode, canon)
	defer clear(sum)
	return matchHash(sum, hashes)
}

package credential

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/accessd/accessd/oauth/api"
)

// TOTP parameters: what every authenticator app supports (RFC 6238's
// defaults). They are not configurable, because apps silently ignore
// anything else in the otpauth URL and then produce codes that never
// verify.
const (
	// TOTPDigits is the length of a passcode.
	TOTPDigits = 6
	// TOTPPeriod is the length of a time step.
	TOTPPeriod = 30 * time.Second
	// TOTPSkew is how many steps either side of the current one are
	// accepted, for clock drift and for a code typed as it rolls over.
	TOTPSkew = 1

	totpSecretBytes = 20 // 160 bits, RFC 4226's recommendation for SHA-1
)

// ErrPasscodeReplayed is returned for a code whose time step is not later
// than the last one accepted for the user: someone who saw a code (over a
// shoulder, in a proxy log) cannot use it again, even within its 90 s of
// validity. It wraps api.ErrBadPasscode.
var ErrPasscodeReplayed = fmt.Errorf("identity: %w: this code was already used; wait for the next one", api.ErrBadPasscode)

// errWrongPasscode is returned for a well-formed code that matches no step
// in the window.
var errWrongPasscode = fmt.Errorf("identity: %w: wrong or expired code", api.ErrBadPasscode)

// NewTOTP makes a TOTP secret for account (the user's name as the app
// will show it) at issuer (this appliance's name). It returns the raw
// secret, to be stored as a sealed field and cleared by the caller; its
// base32 form, for typing into an app; and the otpauth:// URL, for a QR
// code. The base32 form and the URL are shown once, at setup.
// Codes are 6 digits, 30 s, HMAC-SHA-1.
func NewTOTP(issuer, account string, rnd io.Reader) (secret []byte, b32 string, otpauthURL string, err error) {
	if issuer == "" || account == "" || strings.ContainsRune(issuer, ':') || strings.ContainsRune(account, ':') {
		// The URL's label is "issuer:account"; a colon in either would
		// make apps show the wrong names.
		return nil, "", "", errors.New("identity: TOTP issuer and account must be non-empty and contain no ':'")
	}
	secret = make([]byte, totpSecretBytes)
	if _, err := io.ReadFull(rnd, secret); err != nil {
		return nil, "", "", fmt.Errorf("identity: TOTP secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(TOTPPeriod / time.Second),
		Secret:      secret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		clear(secret)
		return nil, "", "", fmt.Errorf("identity: TOTP key: %w", err)
	}
	return secret, key.Secret(), key.URL(), nil
}

// parsePasscode is the parser of what users type as a passcode: exactly
// 6 ASCII digits, with ASCII spaces ignored (apps show "123 456"). It
// runs before anything else, so garbage costs nothing.
func parsePasscode(code string) (pc [TOTPDigits]byte, err error) {
	bad := fmt.Errorf("identity: %w: a passcode is 6 digits", api.ErrBadPasscode)
	if len(code) > 16 {
		return pc, bad
	}
	n := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c == ' ' {
			continue
		}
		if c < '0' || c > '9' || n == TOTPDigits {
			return pc, bad
		}
		pc[n] = c
		n++
	}
	if n != TOTPDigits {
		return pc, bad
	}
	return pc, nil
}

// hotp is RFC 4226's HOTP value for counter, as 6 ASCII digits. It is
// computed here (cross-checked against pquerna/otp and oathtool in the
// tests) rather than through pquerna/otp's string API, so the secret stays
// in a []byte the caller can clear instead of being copied into base32
// strings on every login.
func hotp(secret []byte, counter uint64) (out [TOTPDigits]byte) {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	defer clear(sum)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	for i := TOTPDigits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return out
}

// VerifyTOTP checks a passcode typed at now against secret. It accepts
// the codes of the current 30 s step and of one step either side, compares
// all three in constant time, and returns the step that matched. A step
// not later than lastStep (the one the caller stored at the previous
// success; 0 for none) is refused with ErrPasscodeReplayed, so the caller
// stores the returned step, atomically with the user's other login state.
// Every error about the code wraps api.ErrBadPasscode; failures count
// toward lockout, which is what keeps 10^6 codes from being guessed.
func VerifyTOTP(secret []byte, code string, now time.Time, lastStep int64) (step int64, err error) {
	pc, err := parsePasscode(code)
	if err != nil {
		return 0, err
	}
	if len(secret) < 16 {
		return 0, errors.New("identity: TOTP secret shorter than 128 bits")
	}
	cur := now.Unix() / int64(TOTPPeriod/time.Second)
	if cur <= TOTPSkew {
		return 0, errors.New("identity: clock before 1970")
	}
	// Look at every step in the window whatever matched, and keep the
	// latest fresh match, selected without branching on the comparison.
	fresh, replayed, best := 0, 0, 0
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		want := hotp(secret, uint64(s))
		eq := subtle.ConstantTimeCompare(want[:], pc[:])
		later := 0
		if s > lastStep { // public: depends on the clock and lastStep only
			later = 1
		}
		best = subtle.ConstantTimeSelect(eq&later, int(s), best)
		fresh |= eq & later
		replayed |= eq &^ later
	}
	switch {
	case fresh == 1:
		return int64(best), nil
	case replayed == 1:
		return 0, ErrPasscodeReplayed
	}
	return 0, errWrongPasscode
}

package credential

import (
	"fmt"
	"net/mail"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/accessd/accessd/oauth/api"
)

// CheckEmail accepts a plain address like name@example.com, and nothing
// that could pass for another account's username at sign-in.
func CheckEmail(e string) error {
	if e == "" {
		return missing("email")
	}
	if len(e) > 254 {
		return invalid("email is longer than 254 characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return invalid("email must be a plain address like name@example.com")
	}
	// Sign-in takes a username or an address, and usernames are compared
	// after width mapping (PRECIS): an address in full-width or other
	// compatibility characters could name another account's username.
	if norm.NFKC.String(e) != e {
		return invalid("email must not contain full-width or other compatibility characters; write it as name@example.com")
	}
	return nil
}

// CheckPhoneNumber accepts an E.164 number: "+", a first digit 1-9 and
// at most 15 digits in all, nothing else (no spaces or dashes), so that
// what a gateway receives is exactly what was stored. Empty is allowed:
// no number.
func CheckPhoneNumber(p string) error {
	if p == "" {
		return nil
	}
	if len(p) < 3 || len(p) > 16 || p[0] != '+' || p[1] < '1' || p[1] > '9' {
		return invalid("phoneNumber must be E.164: + and 2 to 15 digits, like +4915112345678")
	}
	for i := 2; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return invalid("phoneNumber must be E.164: + and 2 to 15 digits, like +4915112345678")
		}
	}
	return nil
}

// CheckText refuses what could forge or hide text where a name is shown
// (accessctl tables, audit listings): invalid UTF-8, control characters
// and the bidirectional overrides.
func CheckText(what, v string) error {
	if !utf8.ValidString(v) {
		return invalid("%s is not valid UTF-8", what)
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return invalid("%s contains a control or bidirectional-formatting character", what)
		}
	}
	return nil
}

// missing wraps api.ErrMissingRequired with the fields left out.
func missing(fields ...string) error {
	return fmt.Errorf("identity: %w: %v required", api.ErrMissingRequired, fields)
}

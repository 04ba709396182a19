package credential

import (
	"fmt"

	"golang.org/x/text/secure/precis"

	"github.com/accessd/accessd/oauth/api"
)

// MaxUsernameLength is the longest canonical username, in characters.
const MaxUsernameLength = 64

// badUsername wraps api.ErrInvalidField with the rule that failed. It
// never echoes the input: people type passwords into username fields, and
// this text reaches answers and logs.
func badUsername(rule string) error {
	return fmt.Errorf("identity: username: %w: %s", api.ErrInvalidField, rule)
}

// CanonicalUsername returns the form of s under which a user is stored,
// looked up and kept unique, so that "Maria.Silva" and "maria.silva" (or
// its full-width twin) are one account and cannot be registered twice.
//
// It applies RFC 8265's UsernameCaseMapped profile (width mapping, case
// mapping, NFC) and then keeps the result to a strict ASCII set: 1 to 64
// characters of a-z 0-9 . _ @ + -, starting with a letter or digit. The
// ASCII rule means two different accounts can never look alike on an
// admin's screen (no Cyrillic "а" beside a Latin "a"), and a username is
// safe in a log line, a CLI table and a subject. Errors wrap
// api.ErrInvalidField and name the rule, without repeating the input.
// CanonicalUsername is idempotent: its output canonicalises to itself.
func CanonicalUsername(s string) (string, error) {
	// Bound the work before Unicode processing; the widest accepted input
	// (full-width letters) is 3 bytes per character.
	if len(s) > 3*MaxUsernameLength {
		return "", badUsername(fmt.Sprintf("must be at most %d characters", MaxUsernameLength))
	}
	if s == "" {
		return "", badUsername("must not be empty")
	}
	c, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", badUsername("may contain only letters a-z, digits 0-9 and . _ @ + - (no spaces)")
	}
	switch {
	case c == "":
		return "", badUsername("must not be empty")
	case len(c) > MaxUsernameLength:
		return "", badUsername(fmt.Sprintf("must be at most %d characters", MaxUsernameLength))
	case !IsLowerAlnum(c[0]):
		return "", badUsername("must start with a letter a-z or a digit")
	}
	for i := 0; i < len(c); i++ {
		if b := c[i]; !IsLowerAlnum(b) && b != '.' && b != '_' && b != '@' && b != '+' && b != '-' {
			return "", badUsername("may contain only letters a-z, digits 0-9 and . _ @ + - (no spaces)")
		}
	}
	return c, nil
}

// IsLowerAlnum reports whether b is a-z or 0-9, the characters a username
// (and a tenant slug) may start with.
func IsLowerAlnum(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

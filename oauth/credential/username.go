package credential

import (
	"fmt"
	"strings"

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

// IDShaped reports whether s has the form of a record ID: a UUID written
// as 8-4-4-4-12 hexadecimal digits, of any version and either case (the
// store's own IDs are version 4; Lerian's, which import keeps, are not).
func IDShaped(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch i {
		case 8, 13, 18, 23:
			if b != '-' {
				return false
			}
		default:
			if !('0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F') {
				return false
			}
		}
	}
	return true
}

// ClientIDShaped reports whether s has the form of a client ID that
// NewClientID mints: ClientIDLength characters of its alphabet.
func ClientIDShaped(s string) bool {
	if len(s) != ClientIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(clientIDAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// CheckNewUsername is the rule a canonical username c must also pass to
// be given to a new user (create, import): it may not have the form of a
// record ID or of a client ID. Commands, routes and group members take
// "an ID or a username" (and a bare member "a user or an application"),
// so a user named like another record's ID, or like an application,
// could be taken for it: an editor plants one and waits for an admin to
// add "the application" to a group. Existing users keep their names
// (CanonicalUsername still finds them; the access review flags them).
// Errors wrap api.ErrInvalidField and, like CanonicalUsername's, do not
// repeat the input.
func CheckNewUsername(c string) error {
	switch {
	case IDShaped(c):
		return badUsername("must not have the form of a record ID (a UUID): routes and commands take an ID or a username, so it could be taken for another user's or an application's ID")
	case ClientIDShaped(c):
		return badUsername(fmt.Sprintf("must not have the form of an application's client ID (%d characters of 0-9 and a-z without i, l, o, u): group members are named by username or client ID, so it could be taken for an application", ClientIDLength))
	}
	return nil
}

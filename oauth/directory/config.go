package directory

import (
	"fmt"
	"github.com/accessd/accessd/oauth/credential"
	"strconv"
	"strings"
	"time"
)

// Config is the [identity] table of accessd.toml: the account and
// credential policies. The daemon embeds it in its own Config; the TOML
// names are part of the interface contract (DESIGN §4).
type Config struct {
	// RemoteCredentialOps is accepted for one release so that an
	// upgraded host still starts, and does nothing: credential
	// operations on the data plane now need a recent second-factor
	// sign-in (CredentialOpsMaxAge). New logs a warning when it is set.
	RemoteCredentialOps bool `toml:"remote_credential_ops"`
	// CredentialOpsMaxAge is how recent the second-factor sign-in of a
	// data-plane credential operation must be (stepup.go).
	CredentialOpsMaxAge Duration `toml:"credential_ops_max_age"`
	// MaxSecretAge is the rotation policy the review flags against.
	MaxSecretAge Duration `toml:"max_secret_age"`
	// LockoutAttempts failed sign-ins lock an account for LockoutDuration.
	LockoutAttempts int      `toml:"lockout_attempts"`
	LockoutDuration Duration `toml:"lockout_duration"`
	// Lockout is what LockoutAttempts counts: "source" (the default;
	// failures per account and source address, the account locking for
	// everyone only after login.AccountFailures in a row) or "account"
	// (failures per account from anywhere, PCI DSS 8.3.4; anyone who
	// knows a username can then keep its owner out).
	Lockout string `toml:"lockout"`
	// PasswordMemory and PasswordTime are argon2id's cost for new hashes;
	// older hashes are re-made at the next successful sign-in.
	PasswordMemory Size `toml:"password_memory"`
	PasswordTime   int  `toml:"password_time"`
}

// DefaultConfig is the production policy.
func DefaultConfig() Config {
	return Config{
		MaxSecretAge:        Duration{2160 * time.Hour},
		CredentialOpsMaxAge: Duration{DefaultCredentialOpsMaxAge},
		LockoutAttempts:     5,
		LockoutDuration:     Duration{15 * time.Minute},
		Lockout:             "source",
		PasswordMemory:      Size(credential.DefaultPasswordParams.MemoryKiB) << 10,
		PasswordTime:        int(credential.DefaultPasswordParams.Time),
	}
}

// FieldError names the key (relative to the table) of a bad setting and
// says what is allowed; the daemon adds the file and line.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Validate refuses settings outside what is safe: never weaker than
// OWASP's argon2id floor (19 MiB, 2 passes), never an instant unlock.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.CredentialOpsMaxAge.Duration != 0 && (c.CredentialOpsMaxAge.Duration < time.Second || c.CredentialOpsMaxAge.Duration > 24*time.Hour):
		return bad("credential_ops_max_age", "must be from \"1s\" to \"24h\", got %s", c.CredentialOpsMaxAge.Duration)
	case c.MaxSecretAge.Duration < time.Hour:
		return bad("max_secret_age", "must be at least 1h, got %s", c.MaxSecretAge.Duration)
	case c.LockoutAttempts < 1 || c.LockoutAttempts > 100:
		return bad("lockout_attempts", "must be 1..100, got %d", c.LockoutAttempts)
	case c.Lockout != "" && c.Lockout != "source" && c.Lockout != "account":
		return bad("lockout", "must be \"source\" (failures per account and source) or \"account\" (PCI DSS 8.3.4: per account, from anywhere), got %q", c.Lockout)
	case c.LockoutDuration.Duration < time.Second:
		return bad("lockout_duration", "must be at least 1s, got %s", c.LockoutDuration.Duration)
	case c.PasswordMemory < 19<<20 || c.PasswordMemory > 256<<20:
		return bad("password_memory", "must be from \"19MiB\" (OWASP's floor for argon2id) to \"256MiB\", got %s", c.PasswordMemory)
	case c.PasswordTime < 2 || c.PasswordTime > 10:
		return bad("password_time", "must be 2..10 passes, got %d", c.PasswordTime)
	}
	return nil
}

// Params are the argon2id parameters the config asks for.
func (c Config) Params() credential.PasswordParams {
	if c.PasswordMemory == 0 || c.PasswordTime == 0 {
		return credential.DefaultPasswordParams
	}
	return credential.PasswordParams{MemoryKiB: uint32(c.PasswordMemory >> 10), Time: uint32(c.PasswordTime), Threads: 1}
}

// Duration is a time.Duration written as a Go duration string ("15m") in
// TOML, so operators never have to count nanoseconds.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"15m\", \"1h\" or \"720h\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in the form it is read in.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Size is a byte count written with a binary unit ("19MiB", "512MiB",
// "1GiB") in TOML.
type Size int64

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// UnmarshalText parses "<integer><KiB|MiB|GiB|B>".
func (s *Size) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
			if err != nil || v < 0 || v > 1<<(62-u.shift) {
				break
			}
			*s = Size(v << u.shift)
			return nil
		}
	}
	return fmt.Errorf("%q is not a size (write it like \"19MiB\", \"512MiB\" or \"1GiB\")", b)
}

// MarshalText writes the size in the largest unit that divides it.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Size) String() string {
	for _, u := range sizeUnits {
		if int64(s)%(1<<u.shift) == 0 {
			return strconv.FormatInt(int64(s)>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

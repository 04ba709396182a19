package token

import (
	"fmt"
	"time"

	"github.com/accessd/accessd/oauth/directory"
)

// Config is the [tokens] table of accessd.toml; the TOML names are part
// of the interface contract (DESIGN §4).
type Config struct {
	// SigningAlg is "ES256" (default), "RS256" (lib-auth's local M2M
	// verifier accepts only RS256) or "EdDSA".
	SigningAlg  string             `toml:"signing_alg"`
	AccessTTL   directory.Duration `toml:"access_ttl"`
	RefreshTTL  directory.Duration `toml:"refresh_ttl"`
	KeyRotation directory.Duration `toml:"key_rotation"`
	// DefaultClient is the client_id/azp of a password grant sent without
	// clientId.
	DefaultClient string `toml:"default_client"`

	// Rate limits (per minute, token buckets with a burst of the same
	// size): password grants per (username, source) and per source,
	// failed client authentications per client ID and per source. A
	// source is an IPv4 address or an IPv6 /64.
	PasswordPerMinutePerUser      int `toml:"password_per_minute_per_user"`
	PasswordPerMinutePerAddress   int `toml:"password_per_minute_per_address"`
	FailedAuthPerMinutePerClient  int `toml:"failed_auth_per_minute_per_client"`
	FailedAuthPerMinutePerAddress int `toml:"failed_auth_per_minute_per_address"`
	// ClientCredentialsPerSecond caps successful client_credentials grants
	// per application; 0 (the default) leaves them unlimited: 256-bit
	// secrets make guessing pointless, and failures are limited above.
	ClientCredentialsPerSecond int `toml:"client_credentials_per_second"`
}

// DefaultConfig is the production token policy: Lerian's lifetimes.
func DefaultConfig() Config {
	return Config{
		SigningAlg:    "ES256",
		AccessTTL:     directory.Duration{Duration: time.Hour},
		RefreshTTL:    directory.Duration{Duration: 24 * time.Hour},
		KeyRotation:   directory.Duration{Duration: 720 * time.Hour},
		DefaultClient: "lerian",

		PasswordPerMinutePerUser:      10,
		PasswordPerMinutePerAddress:   120,
		FailedAuthPerMinutePerClient:  10,
		FailedAuthPerMinutePerAddress: 30,
	}
}

// Validate refuses a signing algorithm accessd does not implement and
// lifetimes too short to use.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &directory.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	switch c.SigningAlg {
	case "ES256", "RS256", "EdDSA":
	default:
		return bad("signing_alg", "must be \"ES256\", \"RS256\" or \"EdDSA\", got %q", c.SigningAlg)
	}
	switch {
	case c.AccessTTL.Duration < time.Minute:
		return bad("access_ttl", "must be at least 1m0s, got %s", c.AccessTTL.Duration)
	case c.RefreshTTL.Duration < time.Minute:
		return bad("refresh_ttl", "must be at least 1m0s, got %s", c.RefreshTTL.Duration)
	case c.KeyRotation.Duration < time.Hour:
		return bad("key_rotation", "must be at least 1h0m0s, got %s", c.KeyRotation.Duration)
	case c.DefaultClient == "":
		return bad("default_client", "must name the client of password grants sent without clientId")
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"password_per_minute_per_user", c.PasswordPerMinutePerUser}, {"password_per_minute_per_address", c.PasswordPerMinutePerAddress},
		{"failed_auth_per_minute_per_client", c.FailedAuthPerMinutePerClient}, {"failed_auth_per_minute_per_address", c.FailedAuthPerMinutePerAddress}} {
		if l.n < 1 {
			return bad(l.key, "must be at least 1, got %d", l.n)
		}
	}
	if c.ClientCredentialsPerSecond < 0 {
		return bad("client_credentials_per_second", "must be 0 (unlimited) or more, got %d", c.ClientCredentialsPerSecond)
	}
	return nil
}

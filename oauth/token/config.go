package token

import (
	"fmt"
	"time"

	"github.com/accessd/accessd/oauth/identity"
)

// Config is the [tokens] table of accessd.toml; the TOML names are part
// of the interface contract (DESIGN §4).
type Config struct {
	// SigningAlg is "ES256" (default), "RS256" (lib-auth's local M2M
	// verifier accepts only RS256) or "EdDSA".
	SigningAlg  string            `toml:"signing_alg"`
	AccessTTL   identity.Duration `toml:"access_ttl"`
	RefreshTTL  identity.Duration `toml:"refresh_ttl"`
	KeyRotation identity.Duration `toml:"key_rotation"`
	// DefaultClient is the client_id/azp of a password grant sent without
	// clientId.
	DefaultClient string `toml:"default_client"`
}

// DefaultConfig is the production token policy: Lerian's lifetimes.
func DefaultConfig() Config {
	return Config{
		SigningAlg:    "ES256",
		AccessTTL:     identity.Duration{Duration: time.Hour},
		RefreshTTL:    identity.Duration{Duration: 24 * time.Hour},
		KeyRotation:   identity.Duration{Duration: 720 * time.Hour},
		DefaultClient: "lerian",
	}
}

// Validate refuses a signing algorithm accessd does not implement and
// lifetimes too short to use.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &identity.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
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
	return nil
}

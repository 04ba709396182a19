package identity

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id's cost parameters. DefaultPasswordParams
// follows OWASP's first recommendation (19 MiB, 2 passes, 1 lane): it keeps
// a burst of logins from exhausting an appliance's memory while costing an
// attacker about 20 ms of 19 MiB memory per guess.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultPasswordParams is what new hashes use.
var DefaultPasswordParams = PasswordParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// ErrPasswordMismatch is returned when a password does not match its hash.
var ErrPasswordMismatch = errors.New("identity: password does not match")

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string "$argon2id$v=19$m=..,t=..,p=..$salt$hash".
func HashPassword(password []byte, p PasswordParams, rnd io.Reader) (string, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("identity: password salt: %w", err)
	}
	sum := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// VerifyPassword checks password against a PHC string made by HashPassword.
func VerifyPassword(phc string, password []byte) error {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("identity: unsupported password hash format")
	}
	var v int
	var p PasswordParams
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return errors.New("identity: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return errors.New("identity: malformed argon2 parameters")
	}
	if p.MemoryKiB < 8*1024 || p.MemoryKiB > 256*1024 || p.Time < 1 || p.Time > 10 || p.Threads < 1 {
		return errors.New("identity: argon2 parameters out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return errors.New("identity: malformed password salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 {
		return errors.New("identity: malformed password hash")
	}
	got := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// GeneratePassword returns a random password of 24 characters from an
// alphabet without look-alikes (about 140 bits), for one-time display.
func GeneratePassword(rnd io.Reader) ([]byte, error) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	out := make([]byte, 24)
	buf := make([]byte, 1)
	for i := 0; i < len(out); {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("identity: generate password: %w", err)
		}
		// Rejection sampling keeps every character equally likely.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return out, nil
}

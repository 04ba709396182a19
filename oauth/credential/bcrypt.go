package credential

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/accessd/accessd/oauth/api"
)

// Imported bcrypt hashes.
//
// A user moved in from another access manager (accessctl import) may keep
// the bcrypt hash that system held, so that nobody has to hand out new
// passwords on the day of the move. accessd never makes a bcrypt hash: it
// verifies one, and at the first sign-in that passes it re-makes the hash
// as argon2id with the current parameters (NeedsRehash is true for any
// hash that is not argon2id), so bcrypt hashes live only until their
// owners next sign in.
//
// Timing: an unknown username is answered after a dummy argon2id
// verification (DummyVerify). A user who still holds a bcrypt hash is
// verified with bcrypt, whose cost differs from argon2id's, so until that
// user's first sign-in the time of a wrong password for them can differ
// from an unknown user's, exactly as for a hash with older argon2id
// parameters; the re-hash at the first sign-in closes it.

// maxBcryptCost bounds the cost of an imported hash: 2^14 rounds is about
// a second of one core. A higher cost would let one record (or one
// crafted import) make each sign-in attempt cost seconds of CPU.
const maxBcryptCost = 14

// minBcryptCost is bcrypt's own floor.
const minBcryptCost = bcrypt.MinCost

// bcryptMaxPassword is the longest password bcrypt reads; it ignores
// whatever follows, so a longer presented password is refused rather than
// matched on its first 72 bytes.
const bcryptMaxPassword = 72

// isBcrypt reports whether a stored hash is a bcrypt hash (rather than an
// argon2id PHC string).
func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

// CheckBcryptHash accepts a bcrypt hash accessd can verify: the $2a$, $2b$
// or $2y$ variant, well formed, with a cost from 4 to 14. The error names
// the rule and never repeats the hash.
func CheckBcryptHash(h string) error {
	if !isBcrypt(h) {
		return invalid("passwordHash must be a bcrypt hash ($2a$, $2b$ or $2y$); leave it out and the user gets a one-time password instead")
	}
	if len(h) != 60 {
		return invalid("passwordHash is not a well-formed bcrypt hash (60 characters)")
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return invalid("passwordHash is not a well-formed bcrypt hash")
	}
	if cost < minBcryptCost || cost > maxBcryptCost {
		return invalid("passwordHash has bcrypt cost %d; accessd accepts %d to %d", cost, minBcryptCost, maxBcryptCost)
	}
	return nil
}

// verifyBcrypt checks password against an imported bcrypt hash, under the
// Hasher's bound on concurrent work (bcrypt needs little memory, but each
// verification takes one slot, so a flood of them queues like argon2id's).
func (h *Hasher) verifyBcrypt(ctx context.Context, hash string, password []byte) error {
	if err := CheckBcryptHash(hash); err != nil {
		return fmt.Errorf("identity: stored password hash: %w", err)
	}
	release, err := h.acquire(ctx, h.params.MemoryKiB)
	if err != nil {
		return err
	}
	defer release()
	err = bcrypt.CompareHashAndPassword([]byte(hash), password)
	switch {
	case err == nil && len(password) > bcryptMaxPassword:
		return ErrPasswordMismatch
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return ErrPasswordMismatch
	default:
		return fmt.Errorf("identity: bcrypt: %w", err)
	}
}

// invalid wraps api.ErrInvalidField with the rule a field broke.
func invalid(format string, args ...any) error {
	return fmt.Errorf("identity: %w: %s", api.ErrInvalidField, fmt.Sprintf(format, args...))
}

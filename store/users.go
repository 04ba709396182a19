package store

import (
	"fmt"
	"strings"
	"time"
)

// User is a human account. The store keeps what the Identity layer hands
// it: PasswordHash is an argon2id PHC string made elsewhere, the TOTP seed
// is sealed (see UserRepo.SealTOTPSeed). JSON tags freeze the on-disk
// encoding; they are not an API.
type User struct {
	ID                string    `json:"id"`
	Username          string    `json:"username"`
	Email             string    `json:"email,omitempty"`
	FirstName         string    `json:"firstName,omitempty"`
	LastName          string    `json:"lastName,omitempty"`
	Groups            []string  `json:"groups,omitempty"`
	PasswordHash      string    `json:"passwordHash,omitempty"`
	Disabled          bool      `json:"disabled,omitempty"`
	MFA               MFA       `json:"mfa"`
	FailedLogins      int       `json:"failedLogins,omitempty"`
	LockedUntil       time.Time `json:"lockedUntil"`
	PasswordChangedAt time.Time `json:"passwordChangedAt"`
	LastLoginAt       time.Time `json:"lastLoginAt"`
	LogoutAt          time.Time `json:"logoutAt"`
	CreatedAt         time.Time `json:"createdAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
	Version           uint64    `json:"version"`
}

// MFA is a user's second factor: a sealed TOTP seed and the hashes of the
// unused recovery codes (hashed by the Identity layer, never stored clear).
type MFA struct {
	TOTPSeed           Sealed   `json:"totpSeed,omitempty"`
	Enabled            bool     `json:"enabled,omitempty"`
	RecoveryCodeHashes []string `json:"recoveryCodeHashes,omitempty"`
}

// FieldTOTPSeed is the field name a user's TOTP seed is sealed under.
const FieldTOTPSeed = "mfa.totpSeed"

// UserRecordKey is the record key user fields are sealed to.
func UserRecordKey(id string) string { return "user/" + id }

// usernameKey is the unique, case-insensitive username index key.
func usernameKey(username string) []byte {
	return []byte("idx/username/" + strings.ToLower(username))
}

func userTable(s *Store) *table[User] {
	return &table[User]{
		s: s, name: "user", prefix: []byte("user/"),
		id:      func(u *User) string { return u.ID },
		version: func(u *User) *uint64 { return &u.Version },
		indexes: func(u *User) [][]byte { return [][]byte{usernameKey(u.Username)} },
		create: func(u *User, now time.Time) error {
			if err := checkKeyPart("username", u.Username); err != nil {
				return err
			}
			if u.ID == "" {
				id, err := newID(s.rand)
				if err != nil {
					return err
				}
				u.ID = id
			}
			if u.CreatedAt.IsZero() {
				u.CreatedAt = now
			}
			u.UpdatedAt = now
			return nil
		},
		update: func(_, u *User, now time.Time) error {
			if err := checkKeyPart("username", u.Username); err != nil {
				return err
			}
			u.UpdatedAt = now
			return nil
		},
	}
}

// UserRepo stores users, with a unique case-insensitive username index
// maintained in the same transaction as the user.
type UserRepo struct{ t *table[User] }

// Create stores a new user with Version 1. An empty ID gets a random UUID;
// zero CreatedAt gets the store's clock. ErrExists when the ID or the
// username (compared case-insensitively) is taken.
func (r *UserRepo) Create(u User) (User, error) { return r.t.doCreate(u) }

// Get returns the user with the given ID, or ErrNotFound.
func (r *UserRepo) Get(id string) (User, error) { return r.t.doGet(id) }

// GetByUsername finds a user by username, case-insensitively.
func (r *UserRepo) GetByUsername(username string) (User, error) {
	return r.t.doGetBy("username", usernameKey(username))
}

// Update is an optimistic read-modify-write, the same for every
// repository. fn receives the stored record and returns its replacement;
// the store then bumps Version and stamps UpdatedAt, and moves the
// username index in the same transaction (ErrExists if the new username
// is taken). The Version fn returns must equal the stored one: returning
// the received record with changes does so; returning a record read
// earlier whose Version is stale fails with ErrConflict. When a concurrent
// writer commits first, fn is re-run on the fresh record, so it must not
// have side effects; after too many lost races the result is ErrConflict.
// An error from fn aborts and is returned wrapped. The ID cannot change.
func (r *UserRepo) Update(id string, fn func(old User) (User, error)) (User, error) {
	return r.t.doUpdate(id, fn)
}

// Delete removes a user and its username index entry; ErrNotFound if
// absent.
func (r *UserRepo) Delete(id string) error { return r.t.doDelete(id) }

// List returns up to limit users (all when limit <= 0) with IDs after the
// cursor, in ID order; pass the last ID of a page to get the next.
func (r *UserRepo) List(after string, limit int) ([]User, error) { return r.t.doList(after, limit) }

// Count returns the number of users, for status and metrics.
func (r *UserRepo) Count() (int, error) { return r.t.doCount() }

// SealTOTPSeed seals a TOTP seed for the user with the given ID, ready for
// MFA.TOTPSeed. The caller clears seed.
func (r *UserRepo) SealTOTPSeed(userID string, seed []byte) (Sealed, error) {
	return r.t.s.SealField(UserRecordKey(userID), FieldTOTPSeed, seed)
}

// OpenTOTPSeed opens u.MFA.TOTPSeed. The caller clears the result.
func (r *UserRepo) OpenTOTPSeed(u User) ([]byte, error) {
	if len(u.MFA.TOTPSeed) == 0 {
		return nil, fmt.Errorf("store: open field %q: user has no seed: %w", FieldTOTPSeed, ErrNotFound)
	}
	return r.t.s.OpenField(UserRecordKey(u.ID), FieldTOTPSeed, u.MFA.TOTPSeed)
}

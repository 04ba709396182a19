package store

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/text/cases"
)

// User is a human account as admins edit it. Its credentials
// (Credential) and its login state (LoginState) are separate records, so
// a sign-in never rewrites, re-versions or races the record an admin may
// be editing. JSON tags freeze the on-disk encoding; they are not an API.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"` // canonical form, made by oauth/directory; unique
	Email    string `json:"email,omitempty"`
	// PhoneNumber is E.164 (validated by oauth/directory): where SMS codes go.
	PhoneNumber string   `json:"phoneNumber,omitempty"`
	FirstName   string   `json:"firstName,omitempty"`
	LastName    string   `json:"lastName,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Disabled    bool     `json:"disabled,omitempty"`
	// EmailShared marks an e-mail address that another account also had
	// (or had as its username) when layout 3 first indexed addresses. It
	// is left out of the e-mail index, so the account signs in by
	// username only until an admin gives one of them another address.
	EmailShared bool `json:"emailShared,omitempty"`
	// TenantID and TenantSlug place the user in one tenant of a
	// multi-tenant deployment; empty means no tenant.
	TenantID   string `json:"tenantId,omitempty"`
	TenantSlug string `json:"tenantSlug,omitempty"`
	// LogoutAt is the user's epoch: tokens issued before it are no longer
	// accepted (forced logout, disable).
	LogoutAt time.Time `json:"logoutAt"`
	// LogoutKeep is the one session (refresh family ID) that LogoutAt
	// spares: the one a user enabled MFA or changed their password in,
	// which ended their other sessions. Empty: LogoutAt ends them all.
	LogoutKeep string    `json:"logoutKeep,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	Version    uint64    `json:"version"`
}

// UserRecordKey is the record key user fields are sealed to.
func UserRecordKey(id string) string { return "user/" + id }

// usernameKey is the unique username index key. The store compares
// usernames byte for byte; oauth/directory canonicalises them first.
func usernameKey(username string) []byte { return []byte("idx/username/" + username) }

// emailKey is the unique e-mail index key of a folded address.
func emailKey(folded string) []byte { return []byte("idx/email/" + folded) }

// emailSharedKey marks a folded address that several accounts held when
// layout 3 made addresses unique (EmailShared): nobody may claim it
// until identity releases the mark (ReleaseSharedEmail). Its value is
// no record's ID.
func emailSharedKey(folded string) []byte { return []byte("idx/emailshared/" + folded) }

// sharedMarkValue is the value of an emailSharedKey.
var sharedMarkValue = []byte("\x00shared")

// FoldEmail is the form under which e-mail addresses are compared and
// kept unique: Unicode case folding of the whole address, so
// "Maria@Example.COM" and "maria@example.com" are one address. The
// canonical usernames oauth/directory makes are their own fold, so a
// username and an address can be compared in this form too.
func FoldEmail(email string) string { return cases.Fold().String(email) }

// emailIndexed reports whether the user's address belongs in the e-mail
// index, and its folded form.
func emailIndexed(u *User) (string, bool) {
	if u.Email == "" || u.EmailShared {
		return "", false
	}
	return FoldEmail(u.Email), true
}

// Member kinds in the group-member index.
const (
	MemberUser = "user"
	MemberApp  = "app"
)

// memberPrefix is the index prefix of a group's members; memberKey one
// member's key under it. Group names cannot hold NUL (checkKeyPart).
func memberPrefix(group string) []byte { return []byte("idx/member/" + group + "\x00") }
func memberKey(group, kind, id string) []byte {
	return append(memberPrefix(group), kind+"\x00"+id...)
}

func checkGroups(groups []string) error {
	for _, g := range groups {
		if err := checkKeyPart("group name", g); err != nil {
			return err
		}
	}
	return nil
}

func userTable(s *Store) *table[User] {
	check := func(u *User) error {
		if err := checkKeyPart("username", u.Username); err != nil {
			return err
		}
		return checkGroups(u.Groups)
	}
	return &table[User]{
		s: s, name: "user", prefix: []byte("user/"),
		id:      func(u *User) string { return u.ID },
		version: func(u *User) *uint64 { return &u.Version },
		indexes: func(u *User) [][]byte {
			keys := [][]byte{usernameKey(u.Username)}
			if f, ok := emailIndexed(u); ok {
				keys = append(keys, emailKey(f))
			}
			for _, g := range u.Groups {
				keys = append(keys, memberKey(g, MemberUser, u.ID))
			}
			return keys
		},
		// Sign-in takes a username or an address: neither may name
		// another account through the other index.
		excludes: func(u *User) [][]byte {
			keys := [][]byte{emailKey(FoldEmail(u.Username))}
			if f, ok := emailIndexed(u); ok {
				keys = append(keys, usernameKey(f), emailSharedKey(f))
			}
			return keys
		},
		create: func(u *User, now time.Time) error {
			if err := check(u); err != nil {
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
			if err := check(u); err != nil {
				return err
			}
			u.UpdatedAt = now
			return nil
		},
	}
}

// UserRepo stores users, with a unique username index and the
// group-member index maintained in the same transaction as the user.
type UserRepo struct {
	t *table[User]
	x exec
}

// Create stores a new user with Version 1. An empty ID gets a random UUID;
// zero CreatedAt gets the store's clock. ErrExists when the ID, the
// username or the e-mail address is taken, or when the username is
// another account's address or the address another account's username
// (a *TakenError says which).
func (r *UserRepo) Create(u User) (User, error) { return r.t.doCreate(r.x, u) }

// Get returns the user with the given ID, or ErrNotFound.
func (r *UserRepo) Get(id string) (User, error) { return r.t.doGet(r.x, id) }

// GetByUsername finds a user by (canonical) username.
func (r *UserRepo) GetByUsername(username string) (User, error) {
	return r.t.doGetBy(r.x, "username", usernameKey(username))
}

// GetByEmail finds a user by the folded form of an e-mail address
// (FoldEmail). Addresses marked EmailShared are not found.
func (r *UserRepo) GetByEmail(folded string) (User, error) {
	return r.t.doGetBy(r.x, "email", emailKey(folded))
}

// ReleaseSharedEmail lifts the shared mark of a folded address, once
// oauth/directory found that one account alone holds it, so that account
// may claim it. Releasing an address without a mark does nothing.
func (r *UserRepo) ReleaseSharedEmail(folded string) error {
	err := r.x.update(func(txn *badger.Txn) error { return txn.Delete(emailSharedKey(folded)) })
	if err != nil {
		return fmt.Errorf("store: release shared e-mail address: %w", err)
	}
	return nil
}

// Update is an optimistic read-modify-write, the same for every
// repository. fn receives the stored record and returns its replacement;
// the store then bumps Version and stamps UpdatedAt, and moves the
// username and member index entries in the same transaction (ErrExists if
// the new username is taken). The Version fn returns must equal the
// stored one: returning the received record with changes does so;
// returning a record read earlier whose Version is stale fails with
// ErrConflict. When a concurrent writer commits first, fn is re-run on
// the fresh record, so it must not have side effects; after too many lost
// races the result is ErrConflict. An error from fn aborts and is
// returned wrapped. The ID cannot change.
func (r *UserRepo) Update(id string, fn func(old User) (User, error)) (User, error) {
	return r.t.doUpdate(r.x, id, fn)
}

// Delete removes a user and its index entries; ErrNotFound if absent. Its
// credential and login state are separate records: delete them in the
// same Tx.
func (r *UserRepo) Delete(id string) error { return r.t.doDelete(r.x, id) }

// List returns up to limit users (all when limit <= 0) with IDs after the
// cursor, in ID order; pass the last ID of a page to get the next.
func (r *UserRepo) List(after string, limit int) ([]User, error) {
	return r.t.doList(r.x, after, limit)
}

// Scan calls fn for every user after the cursor, in ID order, until fn
// returns false or an error, without collecting them.
func (r *UserRepo) Scan(after string, fn func(User) (bool, error)) error {
	if err := r.t.scan(r.x, after, fn); err != nil {
		return fmt.Errorf("store: scan user: %w", err)
	}
	return nil
}

// Count returns the number of users, for status and metrics.
func (r *UserRepo) Count() (int, error) { return r.t.doCount(r.x) }

package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// userV1 is a user record as layout 1 stored it: credentials, second
// factor and login counters inside the record admins edit.
type userV1 struct {
	User
	PasswordHash string `json:"passwordHash,omitempty"`
	MFA          struct {
		TOTPSeed           Sealed   `json:"totpSeed,omitempty"`
		Enabled            bool     `json:"enabled,omitempty"`
		RecoveryCodeHashes []string `json:"recoveryCodeHashes,omitempty"`
	} `json:"mfa"`
	FailedLogins      int       `json:"failedLogins,omitempty"`
	LockedUntil       time.Time `json:"lockedUntil"`
	PasswordChangedAt time.Time `json:"passwordChangedAt"`
	LastLoginAt       time.Time `json:"lastLoginAt"`
}

// appV1 is an application record of layout 1, with its last use inside.
type appV1 struct {
	Application
	LastUsedAt time.Time `json:"lastUsedAt"`
}

// migrateBatch bounds one migration transaction, far below Badger's
// transaction size limit.
const migrateBatch = 256

// migration is the work of bringing an older layout up to date, done on
// the store's engine and barrier while Open runs, before the store is
// handed out.
type migration struct{ s *Store }

// migrate brings a store of layout from up to formatVersion. Each step
// runs in batches (a million users do not fit one transaction) and is
// idempotent, so a crash half-way is finished by the next Open; the
// format version moves only after the last batch.
func (m migration) migrate(from uint64) error {
	if from == 1 {
		if err := m.migrateUsersV1(); err != nil {
			return err
		}
		if err := m.migrateAppsV1(); err != nil {
			return err
		}
	}
	if from <= 2 {
		if err := m.migrateEmailsV2(); err != nil {
			return err
		}
	}
	if from <= 3 {
		if err := m.migrateIdentityGrantsV3(); err != nil {
			return err
		}
	}
	return m.s.eng.Retry(func(txn *badger.Txn) error {
		return m.s.keys.mac.putUint64(txn, metaFormat, formatVersion)
	})
}

// batches walks the records under prefix in batches of migrateBatch,
// each in its own read-write transaction.
func (m migration) batches(prefix []byte, fn func(txn *badger.Txn, key, val []byte) error) error {
	var after []byte
	for {
		n := 0
		var last []byte
		err := m.s.eng.Retry(func(txn *badger.Txn) error {
			n, last = 0, nil
			opts := badger.DefaultIteratorOptions
			opts.Prefix = prefix
			it := txn.NewIterator(opts)
			defer it.Close()
			it.Seek(prefix)
			if after != nil {
				it.Seek(after)
				if it.Valid() && string(it.Item().Key()) == string(after) {
					it.Next()
				}
			}
			for ; it.Valid() && n < migrateBatch; it.Next() {
				key := it.Item().KeyCopy(nil)
				val, err := m.s.keys.mac.value(it.Item())
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				if err := fn(txn, key, val); err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				n++
				last = key
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < migrateBatch {
			return nil
		}
		after = last
	}
}

func (m migration) migrateUsersV1() error {
	creds, logins := credentialTable(m.s), loginTable(m.s)
	return m.batches([]byte("user/"), func(txn *badger.Txn, key, val []byte) error {
		var old userV1
		if err := json.Unmarshal(val, &old); err != nil {
			return err
		}
		u := old.User
		// Layout 1 matched usernames case-insensitively by lowercasing;
		// layout 2 indexes the canonical form oauth/directory makes, which
		// for the names layout 1 accepted is the lowercase one.
		if err := txn.Delete(usernameKey(strings.ToLower(u.Username))); err != nil {
			return err
		}
		u.Username = strings.ToLower(u.Username)
		if err := m.s.keys.mac.put(txn, usernameKey(u.Username), []byte(u.ID)); err != nil {
			return err
		}
		for _, g := range u.Groups {
			if err := m.s.keys.mac.put(txn, memberKey(g, MemberUser, u.ID), []byte(u.ID)); err != nil {
				return err
			}
		}
		// A credential already there means this user was migrated before
		// a crash: keep it (the user record no longer has the hash).
		if _, err := creds.getTxn(txn, u.ID); errors.Is(err, ErrNotFound) {
			c := Credential{ID: u.ID, PasswordHash: old.PasswordHash, PasswordChangedAt: old.PasswordChangedAt,
				TOTPEnabled: old.MFA.Enabled, TOTPVerified: old.MFA.Enabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Version: 1}
			for _, h := range old.MFA.RecoveryCodeHashes {
				c.RecoveryCodeHashes = append(c.RecoveryCodeHashes, []byte(h))
			}
			if len(old.MFA.TOTPSeed) > 0 {
				// Re-seal to the credential record: the binding names the
				// record a field lives in.
				seed, err := m.s.keys.fields.Open(UserRecordKey(u.ID), "mfa.totpSeed", old.MFA.TOTPSeed)
				if err != nil {
					return err
				}
				c.TOTPSeed, err = m.s.keys.fields.Seal(CredentialRecordKey(u.ID), FieldTOTPSeed, seed)
				clear(seed)
				if err != nil {
					return err
				}
			}
			if err := putJSON(m.s, txn, creds.key(u.ID), &c); err != nil {
				return err
			}
			l := LoginState{ID: u.ID, FailedLogins: old.FailedLogins, LockedUntil: old.LockedUntil,
				LastLoginAt: old.LastLoginAt, UpdatedAt: u.UpdatedAt, Version: 1}
			if err := putJSON(m.s, txn, logins.key(u.ID), &l); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		return putJSON(m.s, txn, key, &u)
	})
}

func (m migration) migrateAppsV1() error {
	logins := loginTable(m.s)
	return m.batches([]byte("app/"), func(txn *badger.Txn, key, val []byte) error {
		var old appV1
		if err := json.Unmarshal(val, &old); err != nil {
			return err
		}
		a := old.Application
		for _, g := range a.Groups {
			if err := m.s.keys.mac.put(txn, memberKey(g, MemberApp, a.ID), []byte(a.ID)); err != nil {
				return err
			}
		}
		if !old.LastUsedAt.IsZero() {
			l := LoginState{ID: a.ID, LastLoginAt: old.LastUsedAt, UpdatedAt: old.LastUsedAt, Version: 1}
			if err := putJSON(m.s, txn, logins.key(a.ID), &l); err != nil {
				return err
			}
		}
		return putJSON(m.s, txn, key, &a)
	})
}

// migrateEmailsV2 builds the e-mail index of layout 3. An address that
// two accounts share, or that is another account's username, cannot be
// indexed: every account holding it is marked EmailShared (and signs in
// by username only) instead of failing the start; the IDs are logged and
// kept in EmailsShared for the caller to report. Re-running after a
// crash finds the same answer: marked accounts stay marked, claimed
// index entries are claimed by the same account, and a shared address
// keeps its mark (emailSharedKey), which also stops a third account, in
// a later batch or created later, from claiming it.
func (m migration) migrateEmailsV2() error {
	var shared []string
	mark := func(txn *badger.Txn, key []byte, u *User) error {
		u.EmailShared = true
		shared = append(shared, u.ID)
		return putJSON(m.s, txn, key, u)
	}
	err := m.batches([]byte("user/"), func(txn *badger.Txn, key, val []byte) error {
		var u User
		if err := json.Unmarshal(val, &u); err != nil {
			return err
		}
		if u.Email == "" {
			return nil
		}
		if u.EmailShared {
			shared = append(shared, u.ID)
			return nil
		}
		f := FoldEmail(u.Email)
		if _, err := m.s.keys.mac.get(txn, emailSharedKey(f)); err == nil {
			return mark(txn, key, &u)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if owner, err := m.s.keys.mac.get(txn, usernameKey(f)); err == nil && string(owner) != u.ID {
			return mark(txn, key, &u) // the username wins: it signed in first
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		owner, err := m.s.keys.mac.get(txn, emailKey(f))
		switch {
		case errors.Is(err, ErrNotFound):
			return m.s.keys.mac.put(txn, emailKey(f), []byte(u.ID))
		case err != nil:
			return err
		case string(owner) == u.ID:
			return nil
		}
		// The first holder was indexed in an earlier record: unindex
		// and mark it, then this one.
		okey := []byte(UserRecordKey(string(owner)))
		ov, err := m.s.keys.mac.get(txn, okey)
		if err != nil {
			return fmt.Errorf("e-mail index names user %s: %w", owner, err)
		}
		var o User
		if err := json.Unmarshal(ov, &o); err != nil {
			return err
		}
		if err := txn.Delete(emailKey(f)); err != nil {
			return err
		}
		if err := m.s.keys.mac.put(txn, emailSharedKey(f), sharedMarkValue); err != nil {
			return err
		}
		if err := mark(txn, okey, &o); err != nil {
			return err
		}
		return mark(txn, key, &u)
	})
	if err != nil {
		return fmt.Errorf("index e-mail addresses: %w", err)
	}
	slices.Sort(shared)
	m.s.emailsShared = slices.Compact(shared)
	if len(m.s.emailsShared) > 0 {
		m.s.log.Warn("e-mail addresses shared by several accounts were not indexed; these accounts sign in by username until an admin gives each its own address (accessctl user update ID --email ADDRESS)",
			"event", "store.email_shared", "accounts", len(m.s.emailsShared), "ids", strings.Join(m.s.emailsShared, ","))
	}
	return nil
}

// EmailsShared returns the IDs of the users the migration to layout 3,
// run by this Open, found sharing an e-mail address (nil when it did not
// run or found none): for the caller to record in the audit log.
func (s *Store) EmailsShared() []string { return slices.Clone(s.emailsShared) }

// Layout 4 seeds identity-editor-group's grants in product "identity"
// (oauth/directory's IdentityProduct and DefaultGroups, which decide the
// Identity routes in it); layouts 1-3 seeded them without a product,
// which matches every product, so an identity editor was allowed
// "midaz users delete" by /v1/authorize.
const (
	seededIdentityGroup   = "identity-editor-group"
	seededIdentityProduct = "identity"
)

// seededIdentityResources are the resources layouts 1-3 granted
// identity-editor-group, each with action "*".
var seededIdentityResources = []string{"applications", "groups", "users", "update-password", "reset-password"}

// migrateIdentityGrantsV3 moves the seeded grants of
// identity-editor-group (no product, a seeded resource, action "*")
// into product "identity". Grants an operator added, to that group or
// any other, are left alone, and so is a group of that name holding
// none of the seeded grants. A second run finds nothing to move.
func (m migration) migrateIdentityGrantsV3() error {
	key := groupTable(m.s).key(seededIdentityGroup)
	moved := 0
	err := m.s.eng.Retry(func(txn *badger.Txn) error {
		moved = 0
		val, err := m.s.keys.mac.get(txn, key)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		var g Group
		if err := json.Unmarshal(val, &g); err != nil {
			return err
		}
		var out []Permission
		have := map[Permission]bool{}
		for _, p := range g.Permissions {
			if p.Product == "" && p.Action == "*" && slices.Contains(seededIdentityResources, p.Resource) {
				p.Product = seededIdentityProduct
				moved++
			}
			if !have[p] {
				have[p] = true
				out = append(out, p)
			}
		}
		if moved == 0 {
			return nil
		}
		g.Permissions = out
		g.Version++
		return putJSON(m.s, txn, key, &g)
	})
	if err != nil {
		return fmt.Errorf("move the seeded identity grants: %w", err)
	}
	if moved > 0 {
		m.s.log.Info("identity-editor-group's seeded grants moved into product \"identity\"; an identity editor is no longer allowed anything in other products",
			"event", "store.identity_grants", "grants", moved)
	}
	return nil
}

func putJSON(s *Store, txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.keys.mac.put(txn, key, b)
}

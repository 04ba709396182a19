package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// RefreshFamily is the chain of refresh tokens that descend from one
// grant. Only token hashes are stored. Each rotation replaces CurrentHash;
// the store moves the replaced hash to PreviousHashes and keeps indexing
// it, so a presented token that resolves to a family whose CurrentHash it
// is not was already used: a replay, on which the token layer revokes the
// family.
type RefreshFamily struct {
	ID       string `json:"id"`
	Subject  string `json:"subject"` // the user's or application's record ID
	ClientID string `json:"clientId"`
	// CertThumbprint binds the family to a client certificate (RFC 8705
	// x5t#S256): its refresh tokens work only over that certificate.
	CertThumbprint string   `json:"certThumbprint,omitempty"`
	Scope          string   `json:"scope,omitempty"`
	CurrentHash    []byte   `json:"currentHash"`
	PreviousHashes [][]byte `json:"previousHashes,omitempty"`
	Revoked        bool     `json:"revoked,omitempty"`
	// AuthTime and AMR are the sign-in's (RFC 8176 methods, "pwd",
	// "otp"): a refresh carries them on, never renews them.
	AuthTime  time.Time `json:"authTime"`
	AMR       []string  `json:"amr,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   uint64    `json:"version"`
}

// maxTokenHash bounds index keys; SHA-512 is the largest sane hash.
const maxTokenHash = 64

func tokenHashKey(h []byte) []byte { return append([]byte("idx/refreshhash/"), h...) }

func familySubjectPrefix(subject string) []byte {
	return []byte("idx/refreshsubject/" + subject + "\x00")
}

func familyTable(s *Store) *table[RefreshFamily] {
	check := func(f *RefreshFamily) error {
		if err := checkKeyPart("subject", f.Subject); err != nil {
			return err
		}
		if len(f.CurrentHash) == 0 || len(f.CurrentHash) > maxTokenHash {
			return fmt.Errorf("%w: token hash must be 1..%d bytes", ErrInvalid, maxTokenHash)
		}
		return nil
	}
	return &table[RefreshFamily]{
		s: s, name: "refresh family", prefix: []byte("refresh/"),
		id:      func(f *RefreshFamily) string { return f.ID },
		version: func(f *RefreshFamily) *uint64 { return &f.Version },
		indexes: func(f *RefreshFamily) [][]byte {
			keys := make([][]byte, 0, 2+len(f.PreviousHashes))
			keys = append(keys, tokenHashKey(f.CurrentHash))
			for _, h := range f.PreviousHashes {
				keys = append(keys, tokenHashKey(h))
			}
			return append(keys, append(familySubjectPrefix(f.Subject), f.ID...))
		},
		create: func(f *RefreshFamily, now time.Time) error {
			if err := check(f); err != nil {
				return err
			}
			f.PreviousHashes = nil
			if f.ID == "" {
				id, err := newID(s.rand)
				if err != nil {
					return err
				}
				f.ID = id
			}
			if f.CreatedAt.IsZero() {
				f.CreatedAt = now
			}
			f.UpdatedAt = now
			return nil
		},
		update: func(old, f *RefreshFamily, now time.Time) error {
			if err := check(f); err != nil {
				return err
			}
			// The store, not the caller, remembers every hash the family
			// ever had, so reuse stays detectable whatever fn returned.
			prev := old.PreviousHashes
			if !bytes.Equal(old.CurrentHash, f.CurrentHash) && !containsKey(prev, old.CurrentHash) {
				prev = append(prev, old.CurrentHash)
			}
			for _, h := range f.PreviousHashes {
				if !containsKey(prev, h) {
					prev = append(prev, h)
				}
			}
			f.PreviousHashes = prev
			f.UpdatedAt = now
			return nil
		},
	}
}

// RefreshFamilyRepo stores refresh-token families with two indexes kept in
// the same transaction: every token hash the family has had -> family,
// and subject -> families (for forced logout).
type RefreshFamilyRepo struct {
	t *table[RefreshFamily]
	x exec
}

// Create stores a new family with Version 1; an empty ID gets a random
// UUID. ErrExists if the token hash already belongs to a family.
func (r *RefreshFamilyRepo) Create(f RefreshFamily) (RefreshFamily, error) {
	return r.t.doCreate(r.x, f)
}

// Get returns the family with the given ID, or ErrNotFound.
func (r *RefreshFamilyRepo) Get(id string) (RefreshFamily, error) { return r.t.doGet(r.x, id) }

// GetByTokenHash finds the family a presented refresh token's hash belongs
// to, whether it is the current one or an already rotated one (compare
// with CurrentHash using hmac.Equal to tell a replay).
func (r *RefreshFamilyRepo) GetByTokenHash(hash []byte) (RefreshFamily, error) {
	if len(hash) == 0 || len(hash) > maxTokenHash {
		return RefreshFamily{}, fmt.Errorf("store: get refresh family by token hash: %w", ErrNotFound)
	}
	return r.t.doGetBy(r.x, "token hash", tokenHashKey(hash))
}

// Update has UserRepo.Update's contract. Rotating is setting CurrentHash
// to the new token's hash; the old hash is kept (PreviousHashes) and stays
// indexed. Two concurrent rotations of one token cannot both succeed if fn
// checks old.CurrentHash: the loser re-runs on the winner's record.
func (r *RefreshFamilyRepo) Update(id string, fn func(old RefreshFamily) (RefreshFamily, error)) (RefreshFamily, error) {
	return r.t.doUpdate(r.x, id, fn)
}

// Delete removes a family and all its index entries.
func (r *RefreshFamilyRepo) Delete(id string) error { return r.t.doDelete(r.x, id) }

// List returns up to limit families (all when limit <= 0) with IDs after
// the cursor, in ID order.
func (r *RefreshFamilyRepo) List(after string, limit int) ([]RefreshFamily, error) {
	return r.t.doList(r.x, after, limit)
}

// ListBySubject returns every family of a subject, so a forced logout can
// revoke them all.
func (r *RefreshFamilyRepo) ListBySubject(subject string) ([]RefreshFamily, error) {
	t := r.t
	var out []RefreshFamily
	err := r.x.view(func(txn *badger.Txn) error {
		out = nil
		ids, err := t.indexIDs(txn, familySubjectPrefix(subject))
		if err != nil {
			return err
		}
		for _, id := range ids {
			f, err := t.getTxn(txn, id)
			if err != nil {
				return fmt.Errorf("family %q: %w", id, err)
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list refresh families by subject: %w", err)
	}
	return out, nil
}

// RevokeSubject marks every live family of a subject revoked and returns
// how many it changed: the refresh half of a forced logout, atomic when
// the repository is joined to a Tx.
func (r *RefreshFamilyRepo) RevokeSubject(subject string) (int, error) {
	n, _, err := r.RevokeSubjectAfter(subject, "", 0)
	return n, err
}

// RevokeSubjectAfter is RevokeSubject for at most max of the subject's
// families (all when max <= 0) among those whose IDs sort after `after`,
// so that a subject with thousands of families is revoked in batches
// that each fit a transaction, each batch reading only the families it
// has not seen: call it with the cursor it returns until that is "".
func (r *RefreshFamilyRepo) RevokeSubjectAfter(subject, after string, max int) (n int, next string, err error) {
	t := r.t
	err = r.x.update(func(txn *badger.Txn) error {
		n, next = 0, ""
		ids, err := t.indexIDs(txn, familySubjectPrefix(subject))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id <= after {
				continue
			}
			if max > 0 && n == max {
				return nil
			}
			f, err := t.getTxn(txn, id)
			if err != nil {
				return fmt.Errorf("family %q: %w", id, err)
			}
			next = id
			if f.Revoked {
				continue
			}
			f.Revoked = true
			f.UpdatedAt = t.s.now()
			f.Version++
			val, err := json.Marshal(&f)
			if err != nil {
				return err
			}
			if err := t.s.keys.mac.put(txn, t.key(id), val); err != nil {
				return err
			}
			n++
		}
		next = "" // every family after `after` was seen
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("store: revoke refresh families of subject: %w", err)
	}
	return n, next, nil
}

// DeleteExpired removes every family whose ExpiresAt is set and not after
// now, and reports how many went. The daemon calls it periodically.
func (r *RefreshFamilyRepo) DeleteExpired(now time.Time) (int, error) {
	var ids []string
	err := r.t.scan(r.x, "", func(f RefreshFamily) (bool, error) {
		if !f.ExpiresAt.IsZero() && !f.ExpiresAt.After(now) {
			ids = append(ids, f.ID)
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired refresh families: %w", err)
	}
	n := 0
	for _, id := range ids {
		gone := false
		// Re-check inside the transaction: the family may have been
		// extended or deleted since the scan.
		err := r.x.update(func(txn *badger.Txn) error {
			gone = false
			f, err := r.t.getTxn(txn, id)
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			if f.ExpiresAt.IsZero() || f.ExpiresAt.After(now) {
				return nil
			}
			gone = true
			return r.t.deleteTxn(txn, id)
		})
		if err != nil {
			return n, fmt.Errorf("store: delete expired refresh families: %w", err)
		}
		if gone {
			n++
		}
	}
	return n, nil
}

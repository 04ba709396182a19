package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// RevokedToken is an access token revoked before its expiry (RFC 7009,
// logout): kept by its jti until the token would have expired anyway,
// then swept, so the table holds only what can still be presented.
type RevokedToken struct {
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expiresAt"`
	RevokedAt time.Time `json:"revokedAt"`
	Version   uint64    `json:"version"`
}

func revokedTable(s *Store) *table[RevokedToken] {
	return &table[RevokedToken]{
		s: s, name: "revoked token", prefix: []byte("revoked/"),
		id:      func(r *RevokedToken) string { return r.JTI },
		version: func(r *RevokedToken) *uint64 { return &r.Version },
		indexes: func(*RevokedToken) [][]byte { return nil },
		create: func(r *RevokedToken, now time.Time) error {
			if err := checkKeyPart("jti", r.JTI); err != nil {
				return err
			}
			if r.RevokedAt.IsZero() {
				r.RevokedAt = now
			}
			return nil
		},
		update: func(_, _ *RevokedToken, _ time.Time) error { return nil },
	}
}

// RevokedTokenRepo stores revoked access-token IDs.
type RevokedTokenRepo struct {
	t *table[RevokedToken]
	x exec
}

// Create records a revocation; ErrExists when the jti is already revoked.
func (r *RevokedTokenRepo) Create(t RevokedToken) (RevokedToken, error) { return r.t.doCreate(r.x, t) }

// Scan calls fn for every revocation in jti order until fn returns false:
// the daemon loads them into memory at start.
func (r *RevokedTokenRepo) Scan(fn func(RevokedToken) (bool, error)) error {
	return r.t.scan(r.x, "", fn)
}

// metaRevocationSweep holds the latest time (Unix seconds) up to which
// revocations were swept: a token that expired by then may have lost its
// revocation, so it must count as expired whatever the clock says later.
var metaRevocationSweep = []byte("meta/revocationsweep")

// SweptUpTo is the latest time DeleteExpired ran with; zero before the
// first sweep. The token layer treats every token expiring by then as
// expired, so that a clock set back after a sweep cannot bring a revoked
// token back to life.
func (r *RevokedTokenRepo) SweptUpTo() (time.Time, error) {
	var sec uint64
	err := r.x.view(func(txn *badger.Txn) error {
		v, err := r.t.s.keys.mac.getUint64(txn, metaRevocationSweep)
		if isNotFound(err) || errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		sec = v
		return err
	})
	if err != nil || sec == 0 {
		return time.Time{}, err
	}
	return time.Unix(int64(sec), 0), nil
}

// DeleteExpired removes every revocation whose token has expired by now
// and reports how many went. It first records now as SweptUpTo (never
// moving it back), durably, before any revocation goes.
func (r *RevokedTokenRepo) DeleteExpired(now time.Time) (int, error) {
	err := r.x.update(func(txn *badger.Txn) error {
		old, err := r.t.s.keys.mac.getUint64(txn, metaRevocationSweep)
		if err != nil && !isNotFound(err) && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if uint64(now.Unix()) <= old {
			return nil
		}
		return r.t.s.keys.mac.putUint64(txn, metaRevocationSweep, uint64(now.Unix()))
	})
	if err != nil {
		return 0, fmt.Errorf("store: record revocation sweep: %w", err)
	}
	var ids []string
	err = r.t.scan(r.x, "", func(t RevokedToken) (bool, error) {
		if !t.ExpiresAt.After(now) {
			ids = append(ids, t.JTI)
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired revocations: %w", err)
	}
	for i, id := range ids {
		if err := r.t.doDelete(r.x, id); err != nil && !isNotFound(err) {
			return i, fmt.Errorf("store: delete expired revocations: %w", err)
		}
	}
	return len(ids), nil
}

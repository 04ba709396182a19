package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// AuditEntry is one event of the audit log. The store keeps entries
// exactly as given; computing and verifying the hash chain (PrevHash,
// Hash) is store/audit's job.
type AuditEntry struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Type     string            `json:"type"`
	Actor    string            `json:"actor,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash []byte            `json:"prevHash,omitempty"`
	Hash     []byte            `json:"hash,omitempty"`
}

var auditPrefix = []byte("audit/")

func auditKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), auditPrefix...), seq)
}

// AuditRepo is the append-only audit log: entries can be appended and
// read, never changed or removed through the store's API.
type AuditRepo struct{ s *Store }

// Append stores e, whose Seq must be exactly one more than the last
// entry's (1 for the first). ErrExists when Seq is taken; ErrConflict
// when it is not the next one, e.g. because a concurrent Append won: the
// caller re-reads Last, rebuilds its entry on it and tries again. The
// sequence check and the write are one transaction, so the log has no
// gaps and no forks.
func (r *AuditRepo) Append(e AuditEntry) error {
	if e.Seq == 0 {
		return fmt.Errorf("store: append audit entry: %w: sequence numbers start at 1", ErrInvalid)
	}
	if err := r.s.acquire(); err != nil {
		return fmt.Errorf("store: append audit entry %d: %w", e.Seq, err)
	}
	defer r.s.mu.RUnlock()
	val, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("store: append audit entry %d: %w", e.Seq, err)
	}
	txn := r.s.db.NewTransaction(true)
	defer txn.Discard()
	err = func() error {
		last, err := r.s.mac.getUint64(txn, metaAuditSeq)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if e.Seq <= last {
			return ErrExists
		}
		if e.Seq != last+1 {
			return fmt.Errorf("next sequence is %d: %w", last+1, ErrConflict)
		}
		if err := r.s.mac.putUint64(txn, metaAuditSeq, e.Seq); err != nil {
			return err
		}
		if err := r.s.mac.put(txn, auditKey(e.Seq), val); err != nil {
			return err
		}
		return txn.Commit()
	}()
	if errors.Is(err, badger.ErrConflict) {
		err = fmt.Errorf("concurrent append: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: append audit entry %d: %w", e.Seq, err)
	}
	return nil
}

// Get returns the entry with the given sequence number, or ErrNotFound.
func (r *AuditRepo) Get(seq uint64) (AuditEntry, error) {
	var e AuditEntry
	if err := r.s.acquire(); err != nil {
		return e, fmt.Errorf("store: get audit entry %d: %w", seq, err)
	}
	defer r.s.mu.RUnlock()
	err := r.s.db.View(func(txn *badger.Txn) error {
		var err error
		e, err = r.getAudit(txn, seq)
		return err
	})
	if err != nil {
		return e, fmt.Errorf("store: get audit entry %d: %w", seq, err)
	}
	return e, nil
}

func (r *AuditRepo) getAudit(txn *badger.Txn, seq uint64) (AuditEntry, error) {
	var e AuditEntry
	b, err := r.s.mac.get(txn, auditKey(seq))
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

// Last returns the newest entry, or ErrNotFound while the log is empty.
func (r *AuditRepo) Last() (AuditEntry, error) {
	var e AuditEntry
	if err := r.s.acquire(); err != nil {
		return e, fmt.Errorf("store: last audit entry: %w", err)
	}
	defer r.s.mu.RUnlock()
	err := r.s.db.View(func(txn *badger.Txn) error {
		last, err := r.s.mac.getUint64(txn, metaAuditSeq)
		if err != nil {
			return err
		}
		e, err = r.getAudit(txn, last)
		return err
	})
	if err != nil {
		return e, fmt.Errorf("store: last audit entry: %w", err)
	}
	return e, nil
}

// List returns up to limit entries (all when limit <= 0) with Seq >= from,
// in sequence order.
func (r *AuditRepo) List(from uint64, limit int) ([]AuditEntry, error) {
	if err := r.s.acquire(); err != nil {
		return nil, fmt.Errorf("store: list audit entries: %w", err)
	}
	defer r.s.mu.RUnlock()
	var out []AuditEntry
	err := r.s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = auditPrefix
		opts.PrefetchSize = 64
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(auditKey(from)); it.Valid(); it.Next() {
			b, err := r.s.mac.value(it.Item())
			if err != nil {
				return err
			}
			var e AuditEntry
			if err := json.Unmarshal(b, &e); err != nil {
				return err
			}
			out = append(out, e)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list audit entries: %w", err)
	}
	return out, nil
}

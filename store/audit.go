package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// AuditEntry is one event of the audit log. The store keeps entries as
// given; computing and verifying the hash chain (PrevHash, Hash) is
// store/audit's job, which also assigns Seq.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`             // the action, e.g. "user.create"
	Actor  string    `json:"actor,omitempty"`  // "uid:0", "user:<id>", "app:<clientId>"
	Target string    `json:"target,omitempty"` // what it was done to
	Result string    `json:"result,omitempty"` // "ok", "denied", "failed"
	Source string    `json:"source,omitempty"` // remote address or "admin-socket"
	// Detail holds further non-secret facts (never a password, token,
	// secret or key).
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash []byte            `json:"prevHash,omitempty"`
	Hash     []byte            `json:"hash,omitempty"`
}

// Bounds of one audit entry, so that a batch of them always fits one
// transaction whatever a request carried (a path of 16 KiB, say).
const (
	maxAuditField   = 256
	maxAuditDetails = 16
)

// Bounded returns e with every text field and Detail value cut to 256
// bytes (marked with "…") and at most 16 Detail keys.
func (e AuditEntry) Bounded() AuditEntry {
	cut := func(s string) string {
		if len(s) <= maxAuditField {
			return s
		}
		return strings.ToValidUTF8(s[:maxAuditField], "") + "…"
	}
	e.Type, e.Actor, e.Target, e.Result, e.Source = cut(e.Type), cut(e.Actor), cut(e.Target), cut(e.Result), cut(e.Source)
	if len(e.Detail) > 0 {
		d := make(map[string]string, min(len(e.Detail), maxAuditDetails))
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys[:min(len(keys), maxAuditDetails)] {
			d[cut(k)] = cut(e.Detail[k])
		}
		e.Detail = d
	}
	return e
}

var (
	auditPrefix   = []byte("audit/")
	pendingPrefix = []byte("auditq/")
)

func auditKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), auditPrefix...), seq)
}

// AuditStage stages audit entries in a Tx: each is written to the
// pending queue in the same transaction as the change it records, so the
// two are durable together; the audit writer (store/audit) later gives it
// its place in the chain. Staging never reads the chain's head, so
// concurrent transactions do not conflict on it.
type AuditStage struct{ tx *Tx }

// Stage queues e to be chained. Seq, PrevHash and Hash are assigned by
// the writer; Time is the store's clock when zero.
func (a *AuditStage) Stage(e AuditEntry) error {
	if !a.tx.write {
		return errReadOnly
	}
	s := a.tx.s
	e = e.Bounded()
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Seq, e.PrevHash, e.Hash = 0, nil, nil
	val, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("store: stage audit entry: %w", err)
	}
	// Ordered by when it was staged, on a clock of the store's own that
	// only moves forward (not e.Time, which the caller or an injected
	// clock may set), so that a change committed before another began is
	// chained before it; random bytes keep keys of two processes apart.
	key := binary.BigEndian.AppendUint64(append([]byte(nil), pendingPrefix...), s.queue.tick(a.tx.hold))
	var r [8]byte
	if _, err := s.rand.Read(r[:]); err != nil {
		return fmt.Errorf("store: stage audit entry: %w", err)
	}
	key = append(key, r[:]...)
	if err := s.mac.put(a.tx.txn, key, val); err != nil {
		return fmt.Errorf("store: stage audit entry: %w", err)
	}
	a.tx.staged = true
	return nil
}

// auditQueue is what the store keeps for the audit writer (store/audit)
// between commits: a wake-up after every commit that staged entries, a
// count of those commits, and the clock that orders staged entries (key
// times) with the writes still holding one.
type auditQueue struct {
	// wake is signalled after a commit that staged audit entries, so
	// the chain writer picks them up at once.
	wake chan struct{}
	// gen counts the commits that staged audit entries (Generation).
	gen atomic.Uint64
	// mu guards last, the last key time of a staged audit entry (tick),
	// and staging, the first key time of each write that staged entries
	// and has not ended (PendingFloor).
	mu      sync.Mutex
	last    uint64
	staging map[uint64]struct{}
}

// committed counts a commit that staged entries and wakes the writer.
func (q *auditQueue) committed() {
	q.gen.Add(1)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// tick returns the wall clock in nanoseconds, or one more than the last
// value it returned if the clock has not moved on since. The first tick
// a write takes is held (in *hold and q.staging) until the write ends.
func (q *auditQueue) tick(hold *uint64) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := max(uint64(time.Now().UnixNano()), q.last+1)
	q.last = t
	if hold != nil && *hold == 0 {
		*hold = t
		if q.staging == nil {
			q.staging = map[uint64]struct{}{}
		}
		q.staging[t] = struct{}{}
	}
	return t
}

// done releases a write's hold once it has ended.
func (q *auditQueue) done(hold *uint64) {
	if *hold == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.staging, *hold)
	*hold = 0
}

// floor is AuditRepo.PendingFloor.
func (q *auditQueue) floor() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.last = max(q.last, uint64(time.Now().UnixNano()))
	f := q.last + 1
	for t := range q.staging {
		f = min(f, t)
	}
	return f
}

// Wake is signalled (without blocking, coalesced) after every commit
// that staged audit entries; the chain writer waits on it.
func (r *AuditRepo) Wake() <-chan struct{} { return r.s.queue.wake }

// Generation counts the commits that staged audit entries, each counted
// after it committed: a scan of the pending entries begun after reading
// n sees every entry staged by the first n such commits, so the chain
// writer need not scan again while the count stays n.
func (r *AuditRepo) Generation() uint64 { return r.s.queue.gen.Load() }

// PendingFloor is a key time below which no entry will be staged any
// more: every write that staged one there has ended. A read of the
// pending entries begun after PendingFloor returned f sees every entry
// under f that was committed, so the chain writer, once it has taken
// them, can start its next read at f (PendingFrom) instead of walking
// the deleted keys of the entries already chained.
//
// With no write in flight it is the wall clock: entries staged from now
// on get key times from now on, even if the clock steps back (tick never
// goes below last+1), and the deleted keys of entries staged before, by
// this process or an earlier one, are not walked again.
func (r *AuditRepo) PendingFloor() uint64 { return r.s.queue.floor() }

// PendingAudit is a staged entry not yet chained.
type PendingAudit struct {
	key   []byte
	Entry AuditEntry
}

// AuditRepo is the append-only audit log: entries can be chained and
// read, never changed through the store's API, and removed only once a
// checkpoint records that they were archived (retention, auditprune.go).
type AuditRepo struct{ s *Store }

// Pending returns up to limit staged entries, oldest first.
func (r *AuditRepo) Pending(limit int) ([]PendingAudit, error) { return r.PendingFrom(0, limit) }

// PendingFrom returns up to limit staged entries whose key time is from
// on (see PendingFloor), oldest first.
func (r *AuditRepo) PendingFrom(from uint64, limit int) ([]PendingAudit, error) {
	if err := r.s.acquire(); err != nil {
		return nil, fmt.Errorf("store: pending audit entries: %w", err)
	}
	defer r.s.mu.RUnlock()
	var out []PendingAudit
	err := r.s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = pendingPrefix
		it := txn.NewIterator(opts)
		defer it.Close()
		start := binary.BigEndian.AppendUint64(append([]byte(nil), pendingPrefix...), from)
		for it.Seek(start); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
			b, err := r.s.mac.value(it.Item())
			if err != nil {
				return err
			}
			p := PendingAudit{key: it.Item().KeyCopy(nil)}
			if err := json.Unmarshal(b, &p.Entry); err != nil {
				return fmt.Errorf("decode pending audit entry: %w", err)
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending audit entries: %w", err)
	}
	return out, nil
}

// Chain appends entries to the log in one transaction and removes the
// pending entries they were made from: one commit, one fsync, for the
// whole batch. entries[0].Seq must be one more than the last entry's (1
// for the first) and the rest consecutive: ErrConflict otherwise (only
// one writer may chain; a second one loses here instead of forking the
// log).
func (r *AuditRepo) Chain(consumed []PendingAudit, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := r.s.acquire(); err != nil {
		return fmt.Errorf("store: chain audit entries: %w", err)
	}
	defer r.s.mu.RUnlock()
	txn, err := r.s.writeTxn()
	if err != nil {
		return fmt.Errorf("store: chain audit entries: %w", err)
	}
	defer txn.Discard()
	r.s.beginWrite()
	committed := false
	defer func() { // also when the batch panics
		if !committed {
			r.s.endWrite()
		}
	}()
	err = func() error {
		last, err := r.s.mac.getUint64(txn, metaAuditSeq)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		for i, e := range entries {
			if e.Seq != last+1+uint64(i) {
				return fmt.Errorf("entry %d: next sequence is %d: %w", e.Seq, last+1+uint64(i), ErrConflict)
			}
			val, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			if err := r.s.mac.put(txn, auditKey(e.Seq), val); err != nil {
				return err
			}
		}
		for _, p := range consumed {
			if err := txn.Delete(p.key); err != nil {
				return err
			}
		}
		if err := r.s.mac.putUint64(txn, metaAuditSeq, entries[len(entries)-1].Seq); err != nil {
			return err
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		committed = true
		return r.s.durable()
	}()
	if errors.Is(err, badger.ErrConflict) {
		err = fmt.Errorf("concurrent chain writer: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: chain audit entries: %w", err)
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

// Last returns the newest chained entry, or ErrNotFound while the log is
// empty.
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

// Scan calls fn for each chained entry with Seq >= from, in key order,
// until fn returns false or an error. A value that fails its MAC or does
// not decode is passed on as an error naming the key's sequence number.
func (r *AuditRepo) Scan(from uint64, fn func(AuditEntry) (bool, error)) error {
	if err := r.s.acquire(); err != nil {
		return fmt.Errorf("store: scan audit entries: %w", err)
	}
	defer r.s.mu.RUnlock()
	if err := r.s.db.View(func(txn *badger.Txn) error { return r.scan(txn, from, fn) }); err != nil {
		return fmt.Errorf("store: scan audit entries: %w", err)
	}
	return nil
}

func (r *AuditRepo) scan(txn *badger.Txn, from uint64, fn func(AuditEntry) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = auditPrefix
	opts.PrefetchSize = 64
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(auditKey(from)); it.Valid(); it.Next() {
		k := it.Item().Key()
		var seq uint64
		if len(k) == len(auditPrefix)+8 {
			seq = binary.BigEndian.Uint64(k[len(auditPrefix):])
		}
		b, err := r.s.mac.value(it.Item())
		if err != nil {
			return fmt.Errorf("audit entry %d: %w", seq, err)
		}
		var e AuditEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("audit entry %d: %w: %v", seq, ErrCorrupt, err)
		}
		more, err := fn(e)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// List returns up to limit entries (all when limit <= 0) with Seq >= from,
// in sequence order.
func (r *AuditRepo) List(from uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := r.Scan(from, func(e AuditEntry) (bool, error) {
		out = append(out, e)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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

// pendingPrefix is the keyspace of staged entries, which the store owns
// (Stage writes it, AuditLog.Pending reads it, AuditTxn.Consume empties
// it); auditSpace is the rest of the audit log's, which only the chain
// writer touches through AuditTxn: "audit/<seq>" and "meta/audit…".
var (
	pendingPrefix = []byte("auditq/")
	auditSpace    = [][]byte{[]byte("audit/"), []byte("meta/audit")}
)

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
	// Ordered by when it was staged, on the audit queue's clock
	// (Options.Audit), which only moves forward (not e.Time, which the caller or an injected
	// clock may set), so that a change committed before another began is
	// chained before it; random bytes keep keys of two processes apart.
	t, err := s.queue.tick(a.tx.hold)
	if err != nil {
		return fmt.Errorf("store: stage audit entry: %w", err)
	}
	key := binary.BigEndian.AppendUint64(append([]byte(nil), pendingPrefix...), t)
	var r [8]byte
	if _, err := s.rand.Read(r[:]); err != nil {
		return fmt.Errorf("store: stage audit entry: %w", err)
	}
	key = append(key, r[:]...)
	if err := s.keys.mac.put(a.tx.txn, key, val); err != nil {
		return fmt.Errorf("store: stage audit entry: %w", err)
	}
	a.tx.staged = true
	return nil
}

// AuditClock is what the store asks of the audit writer's scheduling
// state (store/audit.Queue, given as Options.Audit): the key time of
// each entry it stages, held for the write that staged it, and a word
// after every commit that staged entries.
type AuditClock interface {
	// Stamp returns a key time greater than every one returned before.
	// With hold set (a write's first entry) the time stays held, so the
	// writer does not read past it, until Release.
	Stamp(hold bool) uint64
	// Release lets go of a held time once its write has ended.
	Release(t uint64)
	// Committed is called after a commit that staged entries.
	Committed()
}

// errNoAuditClock refuses to stage in a store opened without one.
var errNoAuditClock = fmt.Errorf("%w: the store was opened without an audit queue (Options.Audit) and cannot stage audit entries", ErrInvalid)

// auditQueue is how a write reaches Options.Audit: the hold it takes
// with its first staged entry (a key time shared by its attempts, 0
// before it staged one), released when the write ends.
type auditQueue struct{ c AuditClock }

// tick stamps a key time for an entry a write stages, holding the
// write's first one in *hold.
func (q auditQueue) tick(hold *uint64) (uint64, error) {
	switch {
	case q.c == nil:
		return 0, errNoAuditClock
	case *hold == 0:
		*hold = q.c.Stamp(true)
		return *hold, nil
	}
	return q.c.Stamp(false), nil
}

// done releases a write's hold once it has ended. A write that holds
// none (it staged nothing) has nothing to release, with or without a
// clock.
func (q auditQueue) done(hold *uint64) {
	if *hold == 0 {
		return
	}
	q.c.Release(*hold)
	*hold = 0
}

// committed tells the clock of a commit that staged entries, which only
// a store with a clock makes.
func (q auditQueue) committed() { q.c.Committed() }

// AuditLog is all the audit chain writer (store/audit) gets of the store
// besides the clock it lent it (Options.Audit): the staged entries not
// yet chained (Pending) and transactions confined to the audit log's
// keyspace (View, Update), in which it keeps the chain, its head counter
// and its checkpoint. The store knows nothing of the chain's protocol;
// an AuditTxn cannot reach any other record.
type AuditLog struct{ s *Store }

// AuditLog returns the audit chain writer's hook.
func (s *Store) AuditLog() *AuditLog { return &AuditLog{s: s} }

// PendingAudit is a staged entry not yet chained.
type PendingAudit struct {
	key   []byte
	Entry AuditEntry
}

// Pending returns up to limit (all when limit <= 0) staged entries whose
// key time is from on (0: all of them; see store/audit's Queue.Floor),
// oldest first.
func (l *AuditLog) Pending(from uint64, limit int) ([]PendingAudit, error) {
	var out []PendingAudit
	err := exec{s: l.s}.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = pendingPrefix
		it := txn.NewIterator(opts)
		defer it.Close()
		start := binary.BigEndian.AppendUint64(append([]byte(nil), pendingPrefix...), from)
		for it.Seek(start); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
			b, err := l.s.keys.mac.value(it.Item())
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

// View runs fn in a read-only snapshot of the audit log's keyspace.
func (l *AuditLog) View(fn func(*AuditTxn) error) error {
	return exec{s: l.s}.view(func(txn *badger.Txn) error { return fn(&AuditTxn{s: l.s, txn: txn}) })
}

// Update runs fn in a read-write transaction of the audit log's keyspace
// and commits it, durable before Update returns (one group sync however
// much fn wrote). On a conflict with a concurrent commit fn runs again on
// fresh data, as in Store.Update; an error from fn aborts and is returned
// as is. Writes are gated like every other (Options.AllowWrite).
func (l *AuditLog) Update(fn func(*AuditTxn) error) error {
	return exec{s: l.s}.update(func(txn *badger.Txn) error {
		return fn(&AuditTxn{s: l.s, txn: txn, write: true})
	})
}

// UpdateDeferred is Update without the wait for the disk: the commit is
// durable with the next commit that syncs (every other write of the
// store does), or at Close. For the chain writer's commits that only
// chain staged entries: those entries are durable already and stay
// pending until the chain commit lands, so a power cut that loses the
// commit leaves them to be chained again, in the same order, with the
// same sequence numbers and hashes.
func (l *AuditLog) UpdateDeferred(fn func(*AuditTxn) error) error {
	if err := l.s.eng.Acquire(); err != nil {
		return err
	}
	defer l.s.eng.Release()
	return l.s.eng.RetryDeferred(func(txn *badger.Txn) error {
		return fn(&AuditTxn{s: l.s, txn: txn, write: true})
	})
}

// AuditTxn is a transaction confined to the audit log's keyspace: every
// value it writes carries the store's record MAC and every value it
// reads is checked against it (ErrCorrupt when the check fails). A key
// outside the keyspace is refused with ErrInvalid.
type AuditTxn struct {
	s     *Store
	txn   *badger.Txn
	write bool
}

func inAuditSpace(key []byte) error {
	for _, p := range auditSpace {
		if bytes.HasPrefix(key, p) {
			return nil
		}
	}
	return fmt.Errorf("%w: key %q is outside the audit log", ErrInvalid, key)
}

// Get returns the checked value under key, or ErrNotFound.
func (t *AuditTxn) Get(key []byte) ([]byte, error) {
	if err := inAuditSpace(key); err != nil {
		return nil, err
	}
	return t.s.keys.mac.get(t.txn, key)
}

// Put stores val under key.
func (t *AuditTxn) Put(key, val []byte) error {
	if err := t.writable(key); err != nil {
		return err
	}
	return t.s.keys.mac.put(t.txn, key, val)
}

// Delete removes key.
func (t *AuditTxn) Delete(key []byte) error {
	if err := t.writable(key); err != nil {
		return err
	}
	return t.txn.Delete(key)
}

// Consume removes staged entries (read with Pending) in this
// transaction: the chain writer takes them off the queue in the commit
// that chains them.
func (t *AuditTxn) Consume(taken []PendingAudit) error {
	if !t.write {
		return errReadOnly
	}
	for _, p := range taken {
		if !bytes.HasPrefix(p.key, pendingPrefix) {
			return fmt.Errorf("%w: not a staged audit entry", ErrInvalid)
		}
		if err := t.txn.Delete(p.key); err != nil {
			return err
		}
	}
	return nil
}

func (t *AuditTxn) writable(key []byte) error {
	if !t.write {
		return errReadOnly
	}
	return inAuditSpace(key)
}

// Iterate calls fn for each key under prefix from seek on, in key order,
// until fn returns false or an error. fn's key is valid only during the
// call; value returns the checked value (ErrCorrupt when it fails its
// MAC). withValues prefetches values, for a walk that reads them.
func (t *AuditTxn) Iterate(prefix, seek []byte, withValues bool, fn func(key []byte, value func() ([]byte, error)) (bool, error)) error {
	if err := inAuditSpace(prefix); err != nil {
		return err
	}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = withValues
	if withValues {
		opts.PrefetchSize = 64
	}
	it := t.txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(seek); it.Valid(); it.Next() {
		item := it.Item()
		more, err := fn(item.Key(), func() ([]byte, error) { return t.s.keys.mac.value(item) })
		if err != nil || !more {
			return err
		}
	}
	return nil
}

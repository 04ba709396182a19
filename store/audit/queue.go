package audit

import (
	"sync"
	"sync/atomic"
	"time"
)

// Queue is the writer's scheduling state, shared by the store (which
// asks it, as its store.AuditClock, for the key time of every entry it
// stages) and the writer (Log, which waits on it and reads from its
// floor): the clock that orders staged entries, the key times still held
// by writes in flight, a wake-up after every commit that staged entries
// and a count of those commits. Give the same Queue to store.Open
// (Options.Audit) and to Open. It is safe for concurrent use.
type Queue struct {
	// wake is signalled after a commit that staged audit entries, so
	// the writer picks them up at once.
	wake chan struct{}
	// gen counts the commits that staged audit entries (Generation).
	gen atomic.Uint64
	// mu guards last, the last key time handed out (Stamp), and held,
	// the first key time of each write that staged entries and has not
	// ended (Floor).
	mu   sync.Mutex
	last uint64
	held map[uint64]struct{}
}

// NewQueue returns the scheduling state for one store and its writer.
func NewQueue() *Queue {
	return &Queue{wake: make(chan struct{}, 1), held: map[uint64]struct{}{}}
}

// Stamp returns the wall clock in nanoseconds, or one more than the last
// value it returned if the clock has not moved on since: key times
// strictly increase, even when the clock steps back. With hold set (a
// write's first entry) the time is held until Release, and Floor stays
// at or below it.
func (q *Queue) Stamp(hold bool) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := max(uint64(time.Now().UnixNano()), q.last+1)
	q.last = t
	if hold {
		q.held[t] = struct{}{}
	}
	return t
}

// Release lets go of a time Stamp held, once its write has ended,
// committed or not.
func (q *Queue) Release(t uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.held, t)
}

// Committed counts a commit that staged entries and wakes the writer.
func (q *Queue) Committed() {
	q.gen.Add(1)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Wake is signalled (without blocking, coalesced) after every commit
// that staged audit entries; the writer waits on it.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Generation counts the commits that staged audit entries, each counted
// after it committed: a scan of the pending entries begun after reading
// n sees every entry staged by the first n such commits, so the writer
// need not scan again while the count stays n.
func (q *Queue) Generation() uint64 { return q.gen.Load() }

// Floor is a key time below which no entry will be staged any more:
// every write that staged one there has ended. A read of the pending
// entries (store.AuditLog.Pending) begun after Floor returned f sees
// every entry under f that was committed, so the writer, once it has
// taken them, can start its next read at f instead of walking the
// deleted keys of the entries already chained.
//
// With no write in flight it is the wall clock: entries staged from now
// on get key times from now on, even if the clock steps back (Stamp
// never goes below last+1), and the deleted keys of entries staged
// before, by this process or an earlier one, are not walked again.
func (q *Queue) Floor() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.last = max(q.last, uint64(time.Now().UnixNano()))
	f := q.last + 1
	for t := range q.held {
		f = min(f, t)
	}
	return f
}

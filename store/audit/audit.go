package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/accessd/accessd/store"
)

// Batch bounds: how many entries one commit chains at most.
const (
	maxBatch   = 32          // entries are at most ~10 KiB (store.AuditEntry.Bounded): a batch, staged plus recorded, stays far below a transaction's limit
	sweepEvery = time.Second // reads the pending entries from the floor even without a wake-up (a safety net: a crashed process's are read at Open)
)

// Options are the writer's hooks. The zero value is valid.
type Options struct {
	// Emit is called once for each entry after its batch is durable, in
	// chain order, from the writer goroutine: the journald copy.
	Emit func(store.AuditEntry)
	// Log receives the writer's own failures.
	Log *slog.Logger
	// Now stamps entries recorded without a Time and checkpoints. Nil
	// means time.Now; tests inject a clock.
	Now func() time.Time
}

// Log is the audit chain's single writer. It is safe for concurrent use.
type Log struct {
	st   *store.AuditLog
	q    *Queue
	opt  Options
	in   chan *request
	sync chan chan error
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex // guards head, owned by the writer goroutine otherwise
	headSeq  uint64
	headHash []byte

	// scanned is the queue's Generation when the writer last found no
	// more pending entries, and floor where its next read starts: every
	// entry staged below it has been chained (Queue.Floor).
	// floor is 0 until that first read and after a failed write, which
	// makes the next read take them all. Owned by the writer goroutine.
	scanned uint64
	floor   uint64

	closeOnce sync.Once

	// pruneMu serialises Prune; pruneBatch is how many entries one of
	// its transactions deletes, pruneStep a test's hook between steps.
	pruneMu    sync.Mutex
	pruneBatch int
	pruneStep  func(step string) error
}

type request struct {
	e    store.AuditEntry
	done chan error
}

// Open starts the writer for st's audit log, scheduled by q: the Queue
// st was opened with (store.Options.Audit). Entries staged before a
// crash are chained by the first batch.
func Open(st Store, q *Queue, opt Options) (*Log, error) {
	if q == nil {
		return nil, errors.New("audit: open: no queue: give Open the Queue the store was opened with (store.Options.Audit)")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	l := &Log{st: st.AuditLog(), q: q, opt: opt, in: make(chan *request, maxBatch), sync: make(chan chan error),
		stop: make(chan struct{}), done: make(chan struct{}), pruneBatch: MaxPruneBatch}
	last, err := lastEntry(l.st)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("audit: open: %w", err)
	default:
		l.headSeq, l.headHash = last.Seq, last.Hash
	}
	if err := l.flush(nil, true, true); err != nil {
		return nil, fmt.Errorf("audit: open: chain staged entries: %w", err)
	}
	go l.run()
	return l, nil
}

// Record appends an entry that is not part of a store change (a failed
// sign-in, a denied decision) and returns when it is durable in the
// chain. Concurrent calls share one commit.
func (l *Log) Record(ctx context.Context, e store.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	r := &request{e: e.Bounded(), done: make(chan error, 1)}
	select {
	case l.in <- r:
	case <-l.done:
		return errors.New("audit: log closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-l.done:
		// The writer stopped; it answers what it took before stopping.
		// A request that raced Close into the queue is never taken.
		select {
		case err := <-r.done:
			return err
		default:
			return errors.New("audit: log closed")
		}
	case <-ctx.Done():
		// The entry is queued and will still be written.
		return ctx.Err()
	}
}

// Sync chains every entry staged before it was called, so that a list or
// a verify right after a change sees the change's entry.
func (l *Log) Sync() error {
	c := make(chan error, 1)
	select {
	case l.sync <- c:
		return <-c
	case <-l.done:
		return errors.New("audit: log closed")
	}
}

// Head returns the sequence number and hash of the newest chained entry.
func (l *Log) Head() (uint64, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headSeq, bytes.Clone(l.headHash)
}

// Close chains what is queued and stops the writer. Close it before the
// store.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

func (l *Log) now() time.Time { return l.opt.Now() }

func (l *Log) run() {
	defer close(l.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		var batch []*request
		var syncs []chan error
		sweep := false // read the pending entries even if no commit staged one since the last read
		select {
		case r := <-l.in:
			batch = append(batch, r)
		case c := <-l.sync:
			syncs = append(syncs, c)
		case <-l.q.Wake():
		case <-t.C:
			sweep = true
		case <-l.stop:
		drain:
			for {
				select {
				case r := <-l.in:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			l.answer(batch, l.flush(batch, true, true))
			return
		}
		// Take whatever else is already waiting: that is the group.
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-l.in:
				batch = append(batch, r)
			case c := <-l.sync:
				syncs = append(syncs, c)
			default:
				break more
			}
		}
		err := l.flush(batch, sweep, len(syncs) > 0)
		l.answer(batch, err)
		for _, c := range syncs {
			c <- err
		}
		if err != nil {
			l.opt.Log.Error("audit chain write failed; entries stay queued and are retried", "event", "audit.write_error", "err", err)
		}
	}
}

func (l *Log) answer(batch []*request, err error) {
	for _, r := range batch {
		r.done <- err
	}
}

// flush chains every staged entry and then the given requests, in
// batches of at most maxBatch entries per commit.
//
// Reading the pending entries walks the deleted keys of those already
// chained, which the store keeps until it compacts; a busy log (every
// password grant both stages and records an entry) walked them all on
// every flush. So the pending entries are read only when a commit staged
// some since the last read (or sweep is set), and from the floor below
// which all are chained; all (Open, Close, Sync) reads them all.
func (l *Log) flush(batch []*request, sweep, all bool) (err error) {
	gen, floor := l.q.Generation(), l.q.Floor()
	scan := sweep || all || l.floor == 0 || gen != l.scanned
	from := l.floor
	if all {
		from = 0
	}
	defer func() {
		if err != nil { // entries under the floor may be left: read them all next time
			l.floor = 0
		}
	}()
	for {
		var pending []store.PendingAudit
		if scan {
			if pending, err = l.st.Pending(from, maxBatch); err != nil {
				return err
			}
			if len(pending) < maxBatch {
				// Everything staged by the first gen commits, and
				// everything under floor, is in hand.
				l.scanned, l.floor, scan = gen, floor, false
			}
		}
		var entries []store.AuditEntry
		for _, p := range pending {
			entries = append(entries, p.Entry)
		}
		last := !scan // no more pending entries beyond these
		if last {
			for _, r := range batch {
				entries = append(entries, r.e)
			}
		}
		if len(entries) == 0 {
			return nil
		}
		seq, prev := l.Head()
		for i := range entries {
			seq++
			entries[i].Seq = seq
			entries[i].PrevHash = prev
			h, err := Hash(entries[i])
			if err != nil {
				return err
			}
			entries[i].Hash = h
			prev = h
		}
		// Only staged entries: their commit may ride on the next sync.
		// Recorded ones, and a Sync, Open or Close (all), wait for theirs.
		durable := all || (last && len(batch) > 0)
		if err := appendEntries(l.st, pending, entries, durable); err != nil {
			// The commit may have happened with only its sync failing:
			// take the head from the store, not from memory, next time.
			if last, lerr := lastEntry(l.st); lerr == nil {
				l.mu.Lock()
				l.headSeq, l.headHash = last.Seq, last.Hash
				l.mu.Unlock()
			}
			return err
		}
		l.mu.Lock()
		l.headSeq, l.headHash = seq, prev
		l.mu.Unlock()
		if l.opt.Emit != nil {
			for _, e := range entries {
				l.opt.Emit(e)
			}
		}
		if last {
			return nil
		}
	}
}

// Hash computes an entry's chain hash from its content and PrevHash
// (Hash itself excluded).
func Hash(e store.AuditEntry) ([]byte, error) {
	e.Hash = nil
	b, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("audit: hash entry %d: %w", e.Seq, err)
	}
	h := sha256.New()
	h.Write([]byte("accessd audit v1\n"))
	h.Write(e.PrevHash)
	h.Write(b)
	return h.Sum(nil), nil
}

// Result is Verify's verdict.
type Result struct {
	OK bool
	// Entries is the chain's length: the sequence number of the last
	// entry checked, counting those archived before the checkpoint.
	Entries uint64
	// Checked is how many entries this walk checked: those after the
	// checkpoint.
	Checked uint64
	Head    []byte
	// Checkpoint is where the chain in the store starts, nil when
	// nothing was archived (it then starts at entry 1). The entries up
	// to it are checked in their archive (VerifyArchive).
	Checkpoint *Checkpoint
	// FirstBroken is the sequence number of the first entry that fails,
	// 0 when OK.
	FirstBroken uint64
	Problem     string
}

// Verify walks the chain from the checkpoint (from entry 1 when there is
// none) and reports the first broken entry. The first entry after the
// checkpoint must follow it (its PrevHash the checkpoint's Hash); entries
// the checkpoint covers that a stopped Prune left in the store are not
// looked at. An error means the walk itself could not run (store closed,
// I/O); a broken chain is a Result with OK false.
func Verify(st Store) (Result, error) {
	var res Result
	var prev []byte
	want := uint64(1)
	fail := func(seq uint64, format string, args ...any) {
		res.FirstBroken = seq
		res.Problem = fmt.Sprintf(format, args...)
	}
	// The head is read before the walk: entries the writer chains while
	// the log is walked then lie beyond it, instead of looking like a
	// tail that was cut. The checkpoint is read with the walk, in one
	// snapshot, so that a prune meanwhile cannot look like a gap.
	log := st.AuditLog()
	head, headErr := lastEntry(log)
	start := func(cp *Checkpoint, err error) error {
		switch {
		case errors.Is(err, store.ErrCorrupt):
			fail(1, "the audit checkpoint failed the store's integrity check (changed on disk): %v", err)
		case err != nil:
			return err
		case cp != nil:
			res.Checkpoint = cp
			want, prev, res.Entries = cp.Seq+1, cp.Hash, cp.Seq
		}
		return nil
	}
	err := scanChain(log, start, func(e store.AuditEntry) (bool, error) {
		cp := res.Checkpoint
		switch {
		case cp != nil && want == cp.Seq+1 && e.Seq != want:
			fail(want, "entry %d, the first after the checkpoint (entry %d, archived in %s), is missing (found entry %d in its place)", want, cp.Seq, cp.Archive, e.Seq)
		case cp != nil && want == cp.Seq+1 && !bytes.Equal(e.PrevHash, prev):
			fail(e.Seq, "entry %d does not follow the checkpoint: its previous-hash is %s, the checkpoint's hash (entry %d, archived in %s) is %s; the checkpoint or the entry was changed", e.Seq, short(e.PrevHash), cp.Seq, cp.Archive, short(prev))
		default:
			if problem := checkLink(e, want, prev); problem != "" {
				fail(min(e.Seq, want), "%s", problem)
			}
		}
		if res.FirstBroken != 0 {
			return false, nil
		}
		prev = e.Hash
		res.Entries = e.Seq
		res.Checked++
		want++
		return true, nil
	})
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			fail(want, "entry %d failed the store's integrity check (changed on disk): %v", want, err)
			return res, nil
		}
		return res, fmt.Errorf("audit: verify: %w", err)
	}
	if res.FirstBroken != 0 {
		return res, nil
	}
	if cp := res.Checkpoint; cp != nil && res.Checked == 0 {
		// Prune never archives the head, so an entry always follows a
		// checkpoint.
		fail(cp.Seq+1, "no entry follows the checkpoint (entry %d, archived in %s): the head is never archived, so entries after it were removed", cp.Seq, cp.Archive)
		return res, nil
	}
	switch {
	case errors.Is(headErr, store.ErrNotFound):
		if res.Entries == 0 {
			break
		}
		// Empty when the head was read, or the head names an entry that
		// is gone: only the second stays so.
		if _, err := lastEntry(log); errors.Is(err, store.ErrNotFound) {
			fail(res.Entries+1, "the log's head entry is missing; entries after %d were removed from the end of the log", res.Entries)
			return res, nil
		} else if err != nil && !errors.Is(err, store.ErrCorrupt) {
			return res, fmt.Errorf("audit: verify: %w", err)
		} else if err != nil {
			fail(res.Entries+1, "the log's head failed its integrity check: %v", err)
			return res, nil
		}
	case errors.Is(headErr, store.ErrCorrupt):
		fail(res.Entries+1, "the log's head failed its integrity check: %v", headErr)
		return res, nil
	case headErr != nil:
		return res, fmt.Errorf("audit: verify: %w", headErr)
	case head.Seq > res.Entries:
		fail(res.Entries+1, "entries %d to %d were removed from the end of the log", res.Entries+1, head.Seq)
		return res, nil
	}
	res.OK = true
	res.Head = prev
	return res, nil
}

func short(h []byte) string {
	if len(h) == 0 {
		return "(none)"
	}
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return s
}

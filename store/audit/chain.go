package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/accessd/accessd/store"
)

// The chain's keyspace in the store (store.AuditLog): entry n under
// "audit/" and n big-endian, the head's sequence number under
// "meta/auditseq", the newest checkpoint under "meta/auditcheckpoint".
// Every value is an encoding/json store.AuditEntry or Checkpoint, or the
// head as 8 bytes big-endian, under the store's record MAC. Errors keep
// the wording they had when the store kept these keys ("store: …"),
// which operators and scripts may match.
var (
	entryPrefix    = []byte("audit/")
	metaHead       = []byte("meta/auditseq")
	metaCheckpoint = []byte("meta/auditcheckpoint")
)

// Store is what this package needs of the store: its hook for the audit
// log (*store.Store has it).
type Store interface {
	AuditLog() *store.AuditLog
}

func entryKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), entryPrefix...), seq)
}

// Checkpoint is where the chain in the store begins once older entries
// were archived and removed (retention): the last archived entry's
// sequence number and hash, which the first remaining entry's PrevHash
// must equal, and the archive file that holds the entries it replaced.
// The hash fields let an archive be checked on its own and against its
// neighbours: FirstPrev is the previous checkpoint's Hash (empty when the
// archive starts at entry 1).
//
// Only the newest is kept: older ones are implied by the archives, each
// of which starts where the one before it ended (FirstPrev).
type Checkpoint struct {
	Seq       uint64 `json:"seq"`
	Hash      []byte `json:"hash"`
	FirstSeq  uint64 `json:"firstSeq"`
	FirstPrev []byte `json:"firstPrev,omitempty"`
	// Time is when the entries were archived; Before the retention cut
	// they were older than.
	Time   time.Time `json:"time"`
	Before time.Time `json:"before"`
	// Archive is the archive file's base name (it lives in the daemon's
	// <data>/audit-archive/), ArchiveSHA256 the SHA-256 of its bytes and
	// Entries how many entries it holds (Seq-FirstSeq+1).
	Archive       string `json:"archive"`
	ArchiveSHA256 []byte `json:"archiveSha256"`
	Entries       uint64 `json:"entries"`
}

// MaxPruneBatch bounds the entries one transaction of Prune removes: a
// delete costs a key and a small header, so a batch stays far below
// Badger's transaction limit whatever the entries held.
const MaxPruneBatch = 1000

func getHead(t *store.AuditTxn) (uint64, error) {
	b, err := t.Get(metaHead)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("metadata %q has %d bytes: %w", metaHead, len(b), store.ErrCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

func getEntry(t *store.AuditTxn, seq uint64) (store.AuditEntry, error) {
	var e store.AuditEntry
	b, err := t.Get(entryKey(seq))
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

func getCheckpoint(t *store.AuditTxn) (Checkpoint, error) {
	var cp Checkpoint
	b, err := t.Get(metaCheckpoint)
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("decode audit checkpoint: %w: %v", store.ErrCorrupt, err)
	}
	return cp, nil
}

// scanEntries walks the chained entries from Seq from on. A value that
// fails its MAC or does not decode is passed on as an error naming the
// key's sequence number.
func scanEntries(t *store.AuditTxn, from uint64, fn func(store.AuditEntry) (bool, error)) error {
	return t.Iterate(entryPrefix, entryKey(from), true, func(k []byte, value func() ([]byte, error)) (bool, error) {
		var seq uint64
		if len(k) == len(entryPrefix)+8 {
			seq = binary.BigEndian.Uint64(k[len(entryPrefix):])
		}
		b, err := value()
		if err != nil {
			return false, fmt.Errorf("audit entry %d: %w", seq, err)
		}
		var e store.AuditEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return false, fmt.Errorf("audit entry %d: %w: %v", seq, store.ErrCorrupt, err)
		}
		return fn(e)
	})
}

// Get returns the entry of st's audit log with the given sequence
// number, or an error wrapping store.ErrNotFound.
func Get(st Store, seq uint64) (store.AuditEntry, error) {
	var e store.AuditEntry
	err := st.AuditLog().View(func(t *store.AuditTxn) error {
		var err error
		e, err = getEntry(t, seq)
		return err
	})
	if err != nil {
		return e, fmt.Errorf("store: get audit entry %d: %w", seq, err)
	}
	return e, nil
}

// Last returns the newest chained entry of st's audit log, or an error
// wrapping store.ErrNotFound while the log is empty.
func Last(st Store) (store.AuditEntry, error) { return lastEntry(st.AuditLog()) }

func lastEntry(l *store.AuditLog) (store.AuditEntry, error) {
	var e store.AuditEntry
	err := l.View(func(t *store.AuditTxn) error {
		head, err := getHead(t)
		if err != nil {
			return err
		}
		e, err = getEntry(t, head)
		return err
	})
	if err != nil {
		return e, fmt.Errorf("store: last audit entry: %w", err)
	}
	return e, nil
}

// Scan calls fn for each chained entry of st's audit log with Seq >=
// from, in sequence order, until fn returns false or an error. A value
// that fails its MAC (store.ErrCorrupt) or does not decode is passed on
// as an error naming the entry's sequence number.
func Scan(st Store, from uint64, fn func(store.AuditEntry) (bool, error)) error {
	return scan(st.AuditLog(), from, fn)
}

func scan(l *store.AuditLog, from uint64, fn func(store.AuditEntry) (bool, error)) error {
	if err := l.View(func(t *store.AuditTxn) error { return scanEntries(t, from, fn) }); err != nil {
		return fmt.Errorf("store: scan audit entries: %w", err)
	}
	return nil
}

// List returns up to limit entries (all when limit <= 0) with Seq >=
// from, in sequence order.
func List(st Store, from uint64, limit int) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := Scan(st, from, func(e store.AuditEntry) (bool, error) {
		out = append(out, e)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// CurrentCheckpoint returns st's newest checkpoint, or an error wrapping
// store.ErrNotFound when nothing was ever archived (the chain then starts
// at entry 1).
func CurrentCheckpoint(st Store) (Checkpoint, error) { return currentCheckpoint(st.AuditLog()) }

func currentCheckpoint(l *store.AuditLog) (Checkpoint, error) {
	var cp Checkpoint
	err := l.View(func(t *store.AuditTxn) error {
		var err error
		cp, err = getCheckpoint(t)
		return err
	})
	if err != nil {
		return cp, fmt.Errorf("store: audit checkpoint: %w", err)
	}
	return cp, nil
}

// appendEntries chains entries in one transaction and takes the pending
// entries they were made from off the queue: one commit, at most one
// fsync, for the whole batch. entries[0].Seq must be one more than the
// head's (1 for the first) and the rest consecutive: store.ErrConflict
// otherwise (only one writer may chain; a second one loses here instead
// of forking the log).
//
// durable says whether to wait for the disk. Entries that were all
// staged (consumed) are durable already, in the commits that staged
// them, and a commit that loses them in a power cut also loses their
// consumption: they are still pending after it and chained again, to the
// same sequence numbers and hashes. Such a commit needs no sync of its
// own and rides on the next one (store.AuditLog.UpdateDeferred), which
// halves the syncs of every audited change. Entries recorded directly
// (Record) exist nowhere else: their commit is durable before Record
// returns.
func appendEntries(l *store.AuditLog, consumed []store.PendingAudit, entries []store.AuditEntry, durable bool) error {
	if len(entries) == 0 {
		return nil
	}
	update := l.UpdateDeferred
	if durable {
		update = l.Update
	}
	err := update(func(t *store.AuditTxn) error {
		head, err := getHead(t)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for i, e := range entries {
			if e.Seq != head+1+uint64(i) {
				return fmt.Errorf("entry %d: next sequence is %d: %w", e.Seq, head+1+uint64(i), store.ErrConflict)
			}
			val, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			if err := t.Put(entryKey(e.Seq), val); err != nil {
				return err
			}
		}
		if err := t.Consume(consumed); err != nil {
			return err
		}
		return t.Put(metaHead, binary.BigEndian.AppendUint64(nil, entries[len(entries)-1].Seq))
	})
	if err != nil {
		return fmt.Errorf("store: chain audit entries: %w", err)
	}
	return nil
}

// setCheckpoint records cp as the chain's new start, before any entry it
// covers is deleted (deleteArchived removes only what a durable
// checkpoint covers), so that a crash at any point leaves a chain that
// verifies from the checkpoint. It holds the record to what the chain
// says, in the same transaction: cp must move forward from the current
// checkpoint and start right after it, the entry at cp.Seq must still be
// stored with hash cp.Hash, and cp.Seq must be below the head, which is
// never archived so that the head stays checkable. store.ErrInvalid
// otherwise.
func setCheckpoint(l *store.AuditLog, cp Checkpoint) error {
	err := l.Update(func(t *store.AuditTxn) error {
		head, err := getHead(t)
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		old, err := getCheckpoint(t)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		}
		switch {
		case cp.Seq >= head:
			return fmt.Errorf("%w: checkpoint at entry %d would archive the head (entry %d)", store.ErrInvalid, cp.Seq, head)
		case cp.FirstSeq != old.Seq+1:
			return fmt.Errorf("%w: checkpoint starts at entry %d, the chain in the store at entry %d", store.ErrInvalid, cp.FirstSeq, old.Seq+1)
		case cp.Seq < cp.FirstSeq:
			return fmt.Errorf("%w: checkpoint at entry %d does not move past the current one (entry %d)", store.ErrInvalid, cp.Seq, old.Seq)
		case !bytes.Equal(cp.FirstPrev, old.Hash):
			return fmt.Errorf("%w: checkpoint's first previous-hash is not the current checkpoint's hash", store.ErrInvalid)
		}
		e, err := getEntry(t, cp.Seq)
		if err != nil {
			return fmt.Errorf("entry %d: %w", cp.Seq, err)
		}
		if !bytes.Equal(e.Hash, cp.Hash) {
			return fmt.Errorf("%w: checkpoint hash is not entry %d's hash", store.ErrInvalid, cp.Seq)
		}
		val, err := json.Marshal(&cp)
		if err != nil {
			return err
		}
		return t.Put(metaCheckpoint, val)
	})
	if err != nil {
		return fmt.Errorf("store: set audit checkpoint at entry %d: %w", cp.Seq, err)
	}
	return nil
}

// deleteArchivedBatch removes up to limit (at most MaxPruneBatch) of the
// oldest entries the checkpoint covers, in one transaction, and reports
// how many it removed: 0 when none is left. It is the only way entries
// leave the store, and it cannot run ahead of the checkpoint, which is
// read in the same transaction.
func deleteArchivedBatch(l *store.AuditLog, limit int) (int, error) {
	if limit <= 0 || limit > MaxPruneBatch {
		limit = MaxPruneBatch
	}
	var n int
	err := l.Update(func(t *store.AuditTxn) error {
		n = 0
		cp, err := getCheckpoint(t)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var keys [][]byte
		err = t.Iterate(entryPrefix, entryKey(0), false, func(k []byte, _ func() ([]byte, error)) (bool, error) {
			if len(k) != len(entryPrefix)+8 || binary.BigEndian.Uint64(k[len(entryPrefix):]) > cp.Seq {
				return false, nil
			}
			keys = append(keys, bytes.Clone(k))
			return len(keys) < limit, nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete archived audit entries: %w", err)
	}
	return n, nil
}

// scanChain reads the checkpoint and then the entries after it in one
// snapshot, so that a prune committing meanwhile cannot make the walk see
// an old checkpoint and a chain already cut further. start is called once
// with the checkpoint (nil when there is none, or with the error that
// reading it gave: store.ErrCorrupt when its MAC fails), then fn for each
// entry with Seq above the checkpoint's, as Scan does. Entries the
// checkpoint covers that a crashed prune left behind are skipped.
func scanChain(l *store.AuditLog, start func(*Checkpoint, error) error, fn func(store.AuditEntry) (bool, error)) error {
	err := l.View(func(t *store.AuditTxn) error {
		from := uint64(1)
		cp, err := getCheckpoint(t)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := start(nil, nil); err != nil {
				return err
			}
		case err != nil:
			return start(nil, err)
		default:
			if err := start(&cp, nil); err != nil {
				return err
			}
			from = cp.Seq + 1
		}
		return scanEntries(t, from, fn)
	})
	if err != nil {
		return fmt.Errorf("store: scan audit chain: %w", err)
	}
	return nil
}

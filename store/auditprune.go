package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// AuditCheckpoint is where the chain in the store begins once older
// entries were archived and removed (retention): the last archived entry's
// sequence number and hash, which the first remaining entry's PrevHash
// must equal, and the archive file that holds the entries it replaced.
// The hash fields let an archive be checked on its own and against its
// neighbours: FirstPrev is the previous checkpoint's Hash (empty when the
// archive starts at entry 1).
type AuditCheckpoint struct {
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

// metaAuditCheckpoint holds the newest AuditCheckpoint. Only the newest
// is kept: older ones are implied by the archives, each of which starts
// where the one before it ended (FirstPrev).
var metaAuditCheckpoint = []byte("meta/auditcheckpoint")

// MaxAuditPruneBatch bounds the entries DeleteArchived removes in one
// transaction: a delete costs a key and a small header, so a batch stays
// far below Badger's transaction limit whatever the entries held.
const MaxAuditPruneBatch = 1000

func (r *AuditRepo) getCheckpoint(txn *badger.Txn) (AuditCheckpoint, error) {
	var cp AuditCheckpoint
	b, err := r.s.mac.get(txn, metaAuditCheckpoint)
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("decode audit checkpoint: %w: %v", ErrCorrupt, err)
	}
	return cp, nil
}

// Checkpoint returns the newest checkpoint, or ErrNotFound when nothing
// was ever archived (the chain then starts at entry 1).
func (r *AuditRepo) Checkpoint() (AuditCheckpoint, error) {
	var cp AuditCheckpoint
	if err := r.s.acquire(); err != nil {
		return cp, fmt.Errorf("store: audit checkpoint: %w", err)
	}
	defer r.s.mu.RUnlock()
	err := r.s.db.View(func(txn *badger.Txn) error {
		var err error
		cp, err = r.getCheckpoint(txn)
		return err
	})
	if err != nil {
		return cp, fmt.Errorf("store: audit checkpoint: %w", err)
	}
	return cp, nil
}

// SetCheckpoint records cp as the chain's new start, before any entry it
// covers is deleted (DeleteArchived removes only what a durable checkpoint
// covers), so that a crash at any point leaves a chain that verifies from
// the checkpoint. It holds the record to what the chain says, in the same
// transaction: cp must move forward from the current checkpoint and start
// right after it, the entry at cp.Seq must still be stored with hash
// cp.Hash, and cp.Seq must be below the head, which is never archived so
// that the head stays checkable. ErrInvalid otherwise.
func (r *AuditRepo) SetCheckpoint(cp AuditCheckpoint) error {
	if err := r.s.acquire(); err != nil {
		return fmt.Errorf("store: set audit checkpoint: %w", err)
	}
	defer r.s.mu.RUnlock()
	err := r.s.retry(func(txn *badger.Txn) error {
		head, err := r.s.mac.getUint64(txn, metaAuditSeq)
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		old, err := r.getCheckpoint(txn)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		}
		switch {
		case cp.Seq >= head:
			return fmt.Errorf("%w: checkpoint at entry %d would archive the head (entry %d)", ErrInvalid, cp.Seq, head)
		case cp.FirstSeq != old.Seq+1:
			return fmt.Errorf("%w: checkpoint starts at entry %d, the chain in the store at entry %d", ErrInvalid, cp.FirstSeq, old.Seq+1)
		case cp.Seq < cp.FirstSeq:
			return fmt.Errorf("%w: checkpoint at entry %d does not move past the current one (entry %d)", ErrInvalid, cp.Seq, old.Seq)
		case !bytes.Equal(cp.FirstPrev, old.Hash):
			return fmt.Errorf("%w: checkpoint's first previous-hash is not the current checkpoint's hash", ErrInvalid)
		}
		e, err := r.getAudit(txn, cp.Seq)
		if err != nil {
			return fmt.Errorf("entry %d: %w", cp.Seq, err)
		}
		if !bytes.Equal(e.Hash, cp.Hash) {
			return fmt.Errorf("%w: checkpoint hash is not entry %d's hash", ErrInvalid, cp.Seq)
		}
		val, err := json.Marshal(&cp)
		if err != nil {
			return err
		}
		return r.s.mac.put(txn, metaAuditCheckpoint, val)
	})
	if err != nil {
		return fmt.Errorf("store: set audit checkpoint at entry %d: %w", cp.Seq, err)
	}
	return nil
}

// DeleteArchived removes up to limit (at most MaxAuditPruneBatch) of the
// oldest entries the checkpoint covers, in one transaction, and reports
// how many it removed: 0 when none is left. Call it until it returns 0.
// It is the only way entries leave the store, and it cannot run ahead of
// the checkpoint, which is read in the same transaction.
func (r *AuditRepo) DeleteArchived(limit int) (int, error) {
	if limit <= 0 || limit > MaxAuditPruneBatch {
		limit = MaxAuditPruneBatch
	}
	if err := r.s.acquire(); err != nil {
		return 0, fmt.Errorf("store: delete archived audit entries: %w", err)
	}
	defer r.s.mu.RUnlock()
	var n int
	err := r.s.retry(func(txn *badger.Txn) error {
		n = 0
		cp, err := r.getCheckpoint(txn)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var keys [][]byte
		opts := badger.DefaultIteratorOptions
		opts.Prefix = auditPrefix
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		for it.Seek(auditKey(0)); it.Valid() && len(keys) < limit; it.Next() {
			k := it.Item().Key()
			if len(k) != len(auditPrefix)+8 || binary.BigEndian.Uint64(k[len(auditPrefix):]) > cp.Seq {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
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

// ScanChain reads the checkpoint and then the entries after it in one
// snapshot, so that a prune committing meanwhile cannot make the walk see
// an old checkpoint and a chain already cut further. start is called once
// with the checkpoint (nil when there is none, or with the error that
// reading it gave: ErrCorrupt when its MAC fails), then fn for each entry
// with Seq above the checkpoint's, as Scan does. Entries the checkpoint
// covers that a crashed prune left behind are skipped.
func (r *AuditRepo) ScanChain(start func(*AuditCheckpoint, error) error, fn func(AuditEntry) (bool, error)) error {
	if err := r.s.acquire(); err != nil {
		return fmt.Errorf("store: scan audit chain: %w", err)
	}
	defer r.s.mu.RUnlock()
	err := r.s.db.View(func(txn *badger.Txn) error {
		from := uint64(1)
		cp, err := r.getCheckpoint(txn)
		switch {
		case errors.Is(err, ErrNotFound):
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
		return r.scan(txn, from, fn)
	})
	if err != nil {
		return fmt.Errorf("store: scan audit chain: %w", err)
	}
	return nil
}

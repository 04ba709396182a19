package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// # Field-key rotation
//
// RotateFields moves every sealed field to a new key term and then
// retires the older terms, online. Two metadata values make it safe
// against concurrent writers and crashes:
//
//	meta/fieldfloor    the lowest term a write may put into a record. It is
//	                   raised to the new term, with the term itself, before
//	                   any field is re-sealed. Every write that changes a
//	                   sealed field reads it in the write's own transaction
//	                   and refuses a lower term, so once it is committed a
//	                   field under an old term can only disappear: Badger's
//	                   serialisable transactions make a writer that read
//	                   the old floor retry after the change.
//	meta/fieldretired  the highest retired term: OpenField refuses it and
//	                   every term below, so an old term's key opens nothing
//	                   in this store. It is raised only after a pass that
//	                   finds no field under an older term.
//
// Re-sealing runs in batches of records, each its own transaction; a
// crash half-way leaves floor above retired+1, and the next RotateFields
// resumes at the same term instead of starting another. Retirement is the
// live store's metadata, so a backup taken before keeps its own terms and
// restores with them.
var (
	metaFieldFloor   = []byte("meta/fieldfloor")
	metaFieldRetired = []byte("meta/fieldretired")
)

// rotateBatch is the default number of records per re-seal transaction.
const rotateBatch = 128

// maxRotatePasses bounds the re-seal passes before RotateFields gives up
// on a store whose writers keep putting old fields back (they cannot,
// once the floor is raised; the bound is a guard, not a policy).
const maxRotatePasses = 8

// RotateFieldsOptions tune RotateFields. The zero value is valid.
type RotateFieldsOptions struct {
	// Batch is the number of records re-sealed per transaction; 0 means
	// 128.
	Batch int
	// Audit, when set, makes the entry staged in the transaction that
	// retires the old terms, so the retirement and its record commit
	// together.
	Audit func(FieldRotation) AuditEntry
}

// FieldRotation reports what RotateFields did.
type FieldRotation struct {
	// Term is the active field-key term now.
	Term uint32 `json:"term"`
	// Retired is the highest retired term: it and every lower term open
	// nothing any more.
	Retired uint32 `json:"retired"`
	// Resealed counts the fields re-sealed under Term.
	Resealed int `json:"resealed"`
	// Records counts the records that were read.
	Records int `json:"records"`
	// Resumed is true when an interrupted rotation was finished rather
	// than a new term started.
	Resumed bool `json:"resumed"`
}

// sealedField names one Sealed field of a kind of record: what its
// ciphertext is bound to and where it lives.
type sealedField[T any] struct {
	name      string
	recordKey func(*T) string
	field     func(*T) *Sealed
}

// sealedTable is a table with sealed fields, as rotation walks it.
type sealedTable interface {
	kind() string
	resealBatch(txn *badger.Txn, after []byte, batch int, floor uint32) (last []byte, records, resealed int, err error)
	countBelow(txn *badger.Txn, floor uint32) (int, error)
}

func (t *table[T]) kind() string { return t.name }

// sealedTables lists every table that holds sealed fields. A new kind of
// record with a Sealed field must declare it (table.sealed) and be listed
// here; TestEverySealedFieldIsDeclared finds any that is not.
func (b Barrier) sealedTables() []sealedTable {
	s := b.s
	return []sealedTable{s.credT, s.signingT, s.providerT}
}

// checkSealed refuses a write that puts a sealed field under a term below
// the floor into a record. A field the write leaves as stored passes
// without a read, so ordinary writes during a rotation do not contend on
// the floor; one that changes it reads the floor in the write's own
// transaction (see the rotation notes above).
func (t *table[T]) checkSealed(txn *badger.Txn, old, rec *T) error {
	for _, f := range t.sealed {
		v := *f.field(rec)
		if len(v) == 0 || (old != nil && bytes.Equal(*f.field(old), v)) {
			continue
		}
		floor, err := t.s.keys.mac.getUint64(txn, metaFieldFloor)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if term := v.Term(); uint64(term) < floor {
			return fmt.Errorf("field %q sealed under key term %d, below the current floor %d (a field-key rotation ran meanwhile; seal it again): %w", f.name, term, floor, ErrSealedField)
		}
	}
	return nil
}

func (t *table[T]) resealBatch(txn *badger.Txn, after []byte, batch int, floor uint32) ([]byte, int, int, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = t.prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	start := t.prefix
	if after != nil {
		start = after
	}
	var last []byte
	records, resealed := 0, 0
	for it.Seek(start); it.Valid() && records < batch; it.Next() {
		item := it.Item()
		if after != nil && bytes.Equal(item.Key(), after) {
			continue
		}
		last = item.KeyCopy(nil)
		records++
		rec, err := t.decode(item)
		if err != nil {
			return nil, 0, 0, err
		}
		changed := false
		for _, f := range t.sealed {
			p := f.field(&rec)
			if len(*p) == 0 || p.Term() >= floor {
				continue
			}
			pt, err := t.s.keys.fields.Open(f.recordKey(&rec), f.name, *p)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("%s %q: field %q: %w; fix or delete the record, then rotate again", t.name, t.id(&rec), f.name, err)
			}
			n, err := t.s.keys.fields.Seal(f.recordKey(&rec), f.name, pt)
			clear(pt)
			if err != nil {
				return nil, 0, 0, err
			}
			if n.Term() < floor {
				return nil, 0, 0, fmt.Errorf("%w: active term %d is below the floor %d", ErrInvalid, n.Term(), floor)
			}
			*p = n
			changed = true
			resealed++
		}
		if !changed {
			continue
		}
		// A re-seal is not an edit: UpdatedAt stays, the version moves so
		// that a writer holding the old record retries.
		*t.version(&rec)++
		val, err := json.Marshal(&rec)
		if err != nil {
			return nil, 0, 0, err
		}
		if err := t.s.keys.mac.put(txn, t.key(t.id(&rec)), val); err != nil {
			return nil, 0, 0, err
		}
	}
	return last, records, resealed, nil
}

func (t *table[T]) countBelow(txn *badger.Txn, floor uint32) (int, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = t.prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		rec, err := t.decode(it.Item())
		if err != nil {
			return 0, err
		}
		for _, f := range t.sealed {
			if p := f.field(&rec); len(*p) > 0 && p.Term() < floor {
				n++
			}
		}
	}
	return n, nil
}

// RotateFields starts a new field-key term, re-seals every sealed field
// under it in batches while the store stays in use, and retires every
// older term, so that their keys open nothing in this store any more
// (OpenField then fails with ErrSealedField). It resumes a rotation that
// a crash interrupted. A field that cannot be opened stops it with an
// error naming the record, before anything is retired.
func (b Barrier) RotateFields(opt RotateFieldsOptions) (FieldRotation, error) {
	s := b.s
	if err := s.eng.Acquire(); err != nil {
		return FieldRotation{}, fmt.Errorf("store: rotate fields: %w", err)
	}
	defer s.eng.Release()
	s.rotating.Lock()
	defer s.rotating.Unlock()
	if opt.Batch <= 0 {
		opt.Batch = rotateBatch
	}
	var res FieldRotation
	// 1. The new term and the floor, together.
	err := s.eng.BulkRetry(func(txn *badger.Txn) error {
		term, err := s.keys.mac.getUint64(txn, metaFieldTerm)
		if err != nil {
			return err
		}
		floor, err := s.keys.mac.uint64OrZero(txn, metaFieldFloor)
		if err != nil {
			return err
		}
		retired, err := s.keys.mac.uint64OrZero(txn, metaFieldRetired)
		if err != nil {
			return err
		}
		if floor == term && retired+1 < floor {
			res = FieldRotation{Term: uint32(term), Resumed: true}
			return nil
		}
		if term >= 1<<32-1 {
			return fmt.Errorf("%w: field key terms exhausted", ErrInvalid)
		}
		res = FieldRotation{Term: uint32(term + 1)}
		if err := s.keys.mac.putUint64(txn, metaFieldTerm, term+1); err != nil {
			return err
		}
		return s.keys.mac.putUint64(txn, metaFieldFloor, term+1)
	})
	if err != nil {
		return FieldRotation{}, fmt.Errorf("store: rotate fields: new term: %w", err)
	}
	s.keys.fields.Advance(res.Term)
	s.log.Info("field-key rotation started", "event", "store.fields_rotating", "term", res.Term, "resumed", res.Resumed)

	// 2. Re-seal in batches until a pass finds nothing below the floor.
	for pass := 0; ; pass++ {
		if pass == maxRotatePasses {
			return res, fmt.Errorf("store: rotate fields: fields under old terms remain after %d passes; run it again", pass)
		}
		for _, t := range b.sealedTables() {
			var after []byte
			for {
				var last []byte
				var records, resealed int
				err := s.eng.BulkRetry(func(txn *badger.Txn) error {
					var err error
					last, records, resealed, err = t.resealBatch(txn, after, opt.Batch, res.Term)
					return err
				})
				if err != nil {
					return res, fmt.Errorf("store: rotate fields: %s: %w", t.kind(), err)
				}
				res.Records += records
				res.Resealed += resealed
				if records < opt.Batch {
					break
				}
				after = last
			}
		}
		left := 0
		err := s.eng.DB().View(func(txn *badger.Txn) error {
			for _, t := range b.sealedTables() {
				n, err := t.countBelow(txn, res.Term)
				if err != nil {
					return err
				}
				left += n
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("store: rotate fields: check: %w", err)
		}
		if left == 0 {
			break
		}
	}

	// 3. Retire every older term, with the audit entry.
	res.Retired = res.Term - 1
	staged := false
	var hold uint64
	defer s.queue.done(&hold)
	err = s.eng.BulkRetry(func(txn *badger.Txn) error {
		cur, err := s.keys.mac.uint64OrZero(txn, metaFieldRetired)
		if err != nil {
			return err
		}
		if cur < uint64(res.Retired) {
			if err := s.keys.mac.putUint64(txn, metaFieldRetired, uint64(res.Retired)); err != nil {
				return err
			}
		}
		if opt.Audit != nil {
			tx := &Tx{s: s, txn: txn, write: true, hold: &hold}
			if err := tx.Audit().Stage(opt.Audit(res)); err != nil {
				return err
			}
			staged = tx.staged
		}
		return nil
	})
	if staged { // even on an error: see Update
		s.queue.committed()
	}
	if err != nil {
		return res, fmt.Errorf("store: rotate fields: retire: %w", err)
	}
	s.keys.fields.Retire(res.Retired)
	s.log.Info("field-key rotation done", "event", "store.fields_rotated", "term", res.Term, "retired", res.Retired, "resealed", res.Resealed)
	return res, nil
}

// loadRetired reads the retired term at Open.
func (m migration) loadRetired() error {
	var r uint64
	err := m.s.eng.DB().View(func(txn *badger.Txn) error {
		var err error
		r, err = m.s.keys.mac.uint64OrZero(txn, metaFieldRetired)
		return err
	})
	if err != nil {
		return err
	}
	if r >= uint64(m.s.keys.fields.Active()) {
		return fmt.Errorf("%w: retired field key term %d is not below the active term %d", ErrCorrupt, r, m.s.keys.fields.Active())
	}
	m.s.keys.fields.Retire(uint32(r))
	return nil
}

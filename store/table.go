package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// table implements create/get/update/delete/list for one kind of record,
// stored as JSON under prefix+id, with its secondary indexes kept in the
// same Badger transaction as the record. Each index key maps to the ID of
// the record that owns it; an index key owned by another record is a
// uniqueness violation (ErrExists). Every method takes the exec that says
// which transaction it runs in (its own, or a Tx it joins).
type table[T any] struct {
	s      *Store
	name   string // "user": in errors, and with the ID the record key
	prefix []byte // name + "/"

	id      func(*T) string
	version func(*T) *uint64
	// indexes lists the index keys the record owns.
	indexes func(*T) [][]byte
	// excludes lists index keys the record must not find owned by
	// another record (nil: none), such as another account's address
	// under a username.
	excludes func(*T) [][]byte
	// create validates a new record and fills what the store assigns (ID,
	// timestamps).
	create func(rec *T, now time.Time) error
	// update validates a replacement and stamps it; old is the stored one.
	update func(old, rec *T, now time.Time) error
	// sealed lists the record's Sealed fields, for rotation and for the
	// floor check of every write (rotate.go).
	sealed []sealedField[T]
}

func (t *table[T]) key(id string) []byte {
	return append(append(make([]byte, 0, len(t.prefix)+len(id)), t.prefix...), id...)
}

func (t *table[T]) decode(item *badger.Item) (T, error) {
	var rec T
	b, err := t.s.keys.mac.value(item)
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return rec, fmt.Errorf("decode %s %q: %w", t.name, item.Key(), err)
	}
	return rec, nil
}

func (t *table[T]) getTxn(txn *badger.Txn, id string) (T, error) {
	item, err := txn.Get(t.key(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		var zero T
		return zero, ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return t.decode(item)
}

// claim points index key ik at id, failing if another record owns it.
func (t *table[T]) claim(txn *badger.Txn, ik []byte, id string) error {
	owner, err := t.s.keys.mac.get(txn, ik)
	switch {
	case errors.Is(err, ErrNotFound):
		return t.s.keys.mac.put(txn, ik, []byte(id))
	case err != nil:
		return err
	}
	if string(owner) != id {
		return &TakenError{Index: indexName(ik)}
	}
	return nil
}

// checkExcludes fails when another record owns one of rec's excluded
// index keys.
func (t *table[T]) checkExcludes(txn *badger.Txn, rec *T, id string) error {
	if t.excludes == nil {
		return nil
	}
	for _, ik := range t.excludes(rec) {
		owner, err := t.s.keys.mac.get(txn, ik)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return err
		}
		if string(owner) != id {
			return &TakenError{Index: indexName(ik), Cross: true}
		}
	}
	return nil
}

// TakenError is the ErrExists of a unique index: Index names it
// ("username", "email", "clientid"). Cross is true when the value
// collided with the other sign-in index: a username that is another
// account's e-mail address, or the reverse.
type TakenError struct {
	Index string
	Cross bool
}

func (e *TakenError) Error() string {
	if e.Cross {
		return "the " + e.Index + " index already holds this value for another record: " + ErrExists.Error()
	}
	return e.Index + " is taken: " + ErrExists.Error()
}

func (e *TakenError) Unwrap() error { return ErrExists }

// indexName is the name of an index key's index: what lies between
// "idx/" and the next "/".
func indexName(ik []byte) string {
	rest, ok := bytes.CutPrefix(ik, []byte("idx/"))
	if !ok {
		return "index"
	}
	name, _, _ := bytes.Cut(rest, []byte("/"))
	return string(name)
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

func (t *table[T]) doCreate(x exec, rec T) (T, error) {
	var out T
	err := x.update(func(txn *badger.Txn) error {
		r := rec // create hooks fill in fields; start from the caller's copy on every attempt
		if err := t.create(&r, t.s.now()); err != nil {
			return err
		}
		if err := t.checkSealed(txn, nil, &r); err != nil {
			return err
		}
		id := t.id(&r)
		if err := checkKeyPart(t.name+" id", id); err != nil {
			return err
		}
		*t.version(&r) = 1
		val, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		key := t.key(id)
		if _, err := txn.Get(key); err == nil {
			return ErrExists
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		for _, ik := range t.indexes(&r) {
			if err := t.claim(txn, ik, id); err != nil {
				return err
			}
		}
		if err := t.checkExcludes(txn, &r, id); err != nil {
			return err
		}
		out = r
		return t.s.keys.mac.put(txn, key, val)
	})
	if err != nil {
		var zero T
		if id := t.id(&rec); id != "" {
			return zero, fmt.Errorf("store: create %s %q: %w", t.name, id, err)
		}
		return zero, fmt.Errorf("store: create %s: %w", t.name, err)
	}
	return out, nil
}

func (t *table[T]) doGet(x exec, id string) (T, error) {
	var rec T
	err := x.view(func(txn *badger.Txn) error {
		var err error
		rec, err = t.getTxn(txn, id)
		return err
	})
	if err != nil {
		return rec, fmt.Errorf("store: get %s %q: %w", t.name, id, err)
	}
	return rec, nil
}

// doGetBy resolves an index key to its record. what names the index in
// errors without echoing the looked-up value (it may be a token hash or a
// username).
func (t *table[T]) doGetBy(x exec, what string, ik []byte) (T, error) {
	var rec T
	err := x.view(func(txn *badger.Txn) error {
		id, err := t.s.keys.mac.get(txn, ik)
		if err != nil {
			return err
		}
		rec, err = t.getTxn(txn, string(id))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("dangling index: %w", ErrNotFound)
		}
		return err
	})
	if err != nil {
		return rec, fmt.Errorf("store: get %s by %s: %w", t.name, what, err)
	}
	return rec, nil
}

// doUpdate is the read-modify-write of Update methods: see UserRepo.Update
// for the contract.
func (t *table[T]) doUpdate(x exec, id string, fn func(old T) (T, error)) (T, error) {
	var out T
	err := x.update(func(txn *badger.Txn) error {
		old, err := t.getTxn(txn, id)
		if err != nil {
			return err
		}
		oldIdx := t.indexes(&old)
		oldVersion := *t.version(&old)
		// fn gets its own decoded copy so that it cannot alias old's
		// slices, which the stamp hook compares against.
		mine, err := t.getTxn(txn, id)
		if err != nil {
			return err
		}
		rec, err := fn(mine)
		if err != nil {
			return err
		}
		if t.id(&rec) != id {
			return fmt.Errorf("%w: update may not change the id", ErrInvalid)
		}
		if *t.version(&rec) != oldVersion {
			return fmt.Errorf("version %d is stale, stored is %d: %w", *t.version(&rec), oldVersion, ErrConflict)
		}
		if err := t.update(&old, &rec, t.s.now()); err != nil {
			return err
		}
		if err := t.checkSealed(txn, &old, &rec); err != nil {
			return err
		}
		*t.version(&rec) = oldVersion + 1
		newIdx := t.indexes(&rec)
		for _, ik := range oldIdx {
			if !containsKey(newIdx, ik) {
				if err := txn.Delete(ik); err != nil {
					return err
				}
			}
		}
		for _, ik := range newIdx {
			if err := t.claim(txn, ik, id); err != nil {
				return err
			}
		}
		if err := t.checkExcludes(txn, &rec, id); err != nil {
			return err
		}
		val, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		if err := t.s.keys.mac.put(txn, t.key(id), val); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("store: update %s %q: %w", t.name, id, err)
	}
	return out, nil
}

// doUpsert creates the record or replaces it whatever its version: for
// records that only the store's own callers write (login state), where a
// read-modify-write would only add a read.
func (t *table[T]) doUpsert(x exec, id string, fn func(old T, found bool) (T, error)) (T, error) {
	var out T
	err := x.update(func(txn *badger.Txn) error {
		old, err := t.getTxn(txn, id)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		rec, err := fn(old, found)
		if err != nil {
			return err
		}
		if t.id(&rec) != id {
			return fmt.Errorf("%w: upsert may not change the id", ErrInvalid)
		}
		if err := checkKeyPart(t.name+" id", id); err != nil {
			return err
		}
		if found {
			if err := t.checkSealed(txn, &old, &rec); err != nil {
				return err
			}
			if err := t.update(&old, &rec, t.s.now()); err != nil {
				return err
			}
			*t.version(&rec) = *t.version(&old) + 1
		} else {
			if err := t.checkSealed(txn, nil, &rec); err != nil {
				return err
			}
			if err := t.create(&rec, t.s.now()); err != nil {
				return err
			}
			*t.version(&rec) = 1
		}
		val, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		out = rec
		return t.s.keys.mac.put(txn, t.key(id), val)
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("store: put %s %q: %w", t.name, id, err)
	}
	return out, nil
}

func (t *table[T]) doDelete(x exec, id string) error {
	err := x.update(func(txn *badger.Txn) error { return t.deleteTxn(txn, id) })
	if err != nil {
		return fmt.Errorf("store: delete %s %q: %w", t.name, id, err)
	}
	return nil
}

func (t *table[T]) deleteTxn(txn *badger.Txn, id string) error {
	old, err := t.getTxn(txn, id)
	if err != nil {
		return err
	}
	for _, ik := range t.indexes(&old) {
		if err := txn.Delete(ik); err != nil {
			return err
		}
	}
	return txn.Delete(t.key(id))
}

// doList returns up to limit records (all when limit <= 0) whose IDs sort
// after the cursor, in ID order. Pass the last ID of a page as the next
// cursor; "" starts at the beginning.
func (t *table[T]) doList(x exec, after string, limit int) ([]T, error) {
	var out []T
	err := t.scan(x, after, func(rec T) (bool, error) {
		out = append(out, rec)
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", t.name, err)
	}
	return out, nil
}

// scan calls fn for each record after the cursor, in ID order, until fn
// returns false or an error.
func (t *table[T]) scan(x exec, after string, fn func(T) (bool, error)) error {
	return x.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = t.prefix
		opts.PrefetchSize = 64
		it := txn.NewIterator(opts)
		defer it.Close()
		start := t.key(after)
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			if after != "" && bytes.Equal(item.Key(), start) {
				continue
			}
			rec, err := t.decode(item)
			if err != nil {
				return err
			}
			more, err := fn(rec)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// indexIDs returns the record IDs stored under every index key with the
// given prefix (a non-unique index such as group members), in key order.
func (t *table[T]) indexIDs(txn *badger.Txn, prefix []byte) ([]string, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var ids []string
	for it.Rewind(); it.Valid(); it.Next() {
		id, err := t.s.keys.mac.value(it.Item())
		if err != nil {
			return nil, err
		}
		ids = append(ids, string(id))
	}
	return ids, nil
}

// doCount counts records without decoding their values.
func (t *table[T]) doCount(x exec) (int, error) {
	n := 0
	err := x.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = t.prefix
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count %s: %w", t.name, err)
	}
	return n, nil
}

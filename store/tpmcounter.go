package store

import (
	"encoding/binary"
	"fmt"
)

// metaTPMCounter holds the TPM rollback counter the store is bound to.
var metaTPMCounter = []byte("meta/tpmcounter")

// TPMCounter is what the store records of the TPM NV counter it is bound
// to. The store only keeps it, MAC'd like every value; the daemon decides
// what it means (see daemon/rollback.go).
type TPMCounter struct {
	// Value is the counter value this store last confirmed.
	Value uint64
	// Next, when not zero, is the value an increment under way was about
	// to give the counter: written before the increment, cleared (with
	// Value set to it) after.
	Next uint64
}

// TPMCounter returns the recorded counter, or ErrNotFound when the store
// was never bound to one.
func (tx *Tx) TPMCounter() (TPMCounter, error) {
	b, err := tx.s.keys.mac.get(tx.txn, metaTPMCounter)
	if err != nil {
		return TPMCounter{}, fmt.Errorf("store: TPM counter record: %w", err)
	}
	if len(b) != 16 {
		return TPMCounter{}, fmt.Errorf("store: TPM counter record has %d bytes: %w", len(b), ErrCorrupt)
	}
	return TPMCounter{Value: binary.BigEndian.Uint64(b), Next: binary.BigEndian.Uint64(b[8:])}, nil
}

// SetTPMCounter records c. It commits with the rest of tx.
func (tx *Tx) SetTPMCounter(c TPMCounter) error {
	if !tx.write {
		return errReadOnly
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), c.Value)
	b = binary.BigEndian.AppendUint64(b, c.Next)
	if err := tx.s.keys.mac.put(tx.txn, metaTPMCounter, b); err != nil {
		return fmt.Errorf("store: record TPM counter: %w", err)
	}
	return nil
}

// TPMCounter returns the recorded counter (see Tx.TPMCounter).
func (s *Store) TPMCounter() (TPMCounter, error) {
	var c TPMCounter
	err := s.View(func(tx *Tx) error {
		var err error
		c, err = tx.TPMCounter()
		return err
	})
	return c, err
}

// SetTPMCounter records c in a transaction of its own, fsynced before it
// returns.
func (s *Store) SetTPMCounter(c TPMCounter) error {
	return s.Update(func(tx *Tx) error { return tx.SetTPMCounter(c) })
}

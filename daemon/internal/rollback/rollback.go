// Package rollback binds the store to the TPM's rollback counter
// (seal.CounterIndex) and checks it, for serve (at every start and clean
// stop) and for the key ceremonies (init, restore, recover,
// accept-rollback), which bind.
//
// # Threat model
//
// The store records the value of the counter it last saw
// (store.TPMCounter); the counter moves on at every start and every clean
// stop, so a copy of the data dir taken at any time is behind the counter
// once accessd has stopped or started again, and Check refuses it with
// ErrRollback. A TPM whose counter is gone or behind the store (cleared,
// replaced or rolled back) is refused too: nothing vouches for the store
// then.
//
// Each Advance writes the intent to the store (Value c, Next c+1, fsynced)
// before TPM2_NV_Increment, and the new value after it. A crash can
// therefore leave the counter at c (before the increment) or at c+1 (after
// it, before the confirmation), and the store says {c, c+1} in both cases;
// Check accepts store.Value == counter, or store.Next == counter, and
// nothing else. Recording the new value only after the increment, with no
// intent, would brick the service on a crash in between (store c, counter
// c+1: indistinguishable from a copy one step old). The tolerance is
// exactly one increment, taken when no request is served (before
// listening, after draining), so it lets back nothing that the case below
// does not already.
//
// Not detected: a copy taken while accessd runs and put back after a crash
// (no clean stop) and before the next start; the counter is not moved per
// write, to spare the TPM's NV (see the seal package on wear).
package rollback

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// ErrRollback is returned when the store does not match the TPM's rollback
// counter: a data dir copied back from earlier, a store from another
// install, or a TPM whose counter is gone or behind. accessd exits 6.
var ErrRollback = errors.New("daemon: rollback detected")

// hintAccept is how an operator accepts a mismatch deliberately.
const hintAccept = "if this copy was put back on purpose (a restore from an old copy of the data dir, a TPM that was cleared or replaced), accept it with `accessd recover --accept-rollback --recovery-key-file FILE`, which is audited; otherwise find out who put an old copy of the data dir in place before starting accessd"

// Counter is what the rollback check needs of the TPM.
type Counter interface {
	ReadCounter() (uint64, error)
	IncrementCounter() (uint64, error)
	EnsureCounter() (uint64, error)
}

var _ Counter = (*seal.TPM)(nil)

// Check compares st's counter record with the TPM's counter and
// returns the value they agree on. It accepts exactly two states:
//
//   - record.Value == counter: the normal case (and the crash before an
//     increment: record.Next is set, the counter never moved);
//   - record.Next == counter: the crash after an increment, before the
//     store confirmed it.
//
// A store behind the counter is a rollback; a counter behind the store,
// or missing while the store names one, is a TPM that is not the one the
// store was bound to. Both are ErrRollback. A store with no record (made
// before rollback detection existed) is bound on first use, unless this
// TPM's counter has been used already, which means the store is an old
// copy or from another install.
func Check(st *store.Store, c Counter, log *slog.Logger) (uint64, error) {
	rec, recErr := st.TPMCounter()
	if recErr != nil && !errors.Is(recErr, store.ErrNotFound) {
		return 0, fmt.Errorf("daemon: rollback check: %w", recErr)
	}
	cur, err := c.ReadCounter()
	switch {
	case errors.Is(recErr, store.ErrNotFound) && errors.Is(err, seal.ErrNoCounter):
		v, err := Bind(st, c, store.AuditEntry{Type: "seal.rollback_bind", Actor: "accessd", Source: "local",
			Detail: map[string]string{"reason": "first start with rollback detection"}})
		if err != nil {
			return 0, err
		}
		log.Warn("rollback detection enabled: the store is now bound to the TPM's NV counter",
			"event", "seal.rollback_bind", "nv_index", fmt.Sprintf("%#08x", uint32(seal.CounterIndex)), "counter", v)
		return v, nil
	case errors.Is(recErr, store.ErrNotFound) && err == nil:
		return 0, fmt.Errorf("%w: the store has no rollback record, but this TPM's rollback counter is in use (value %d): the data dir is a copy from before rollback detection, or from another install on this TPM; %s", ErrRollback, cur, hintAccept)
	case errors.Is(err, seal.ErrNoCounter):
		return 0, fmt.Errorf("%w: the store is bound to TPM rollback counter value %d, but this TPM has no rollback counter (it was cleared or replaced, or the counter at NV index %#08x was deleted); %s", ErrRollback, rec.Value, uint32(seal.CounterIndex), hintAccept)
	case err != nil:
		return 0, fmt.Errorf("daemon: rollback check: %w", err)
	case cur == rec.Value || (rec.Next != 0 && cur == rec.Next):
		return cur, nil
	case cur > rec.Value:
		return 0, fmt.Errorf("%w: the store is behind the TPM's rollback counter (store %d, counter %d): this data dir is an older copy than the one accessd last ran on, and records deleted or changed since (users, applications, revoked secrets) would come back; %s", ErrRollback, rec.Value, cur, hintAccept)
	default:
		return 0, fmt.Errorf("%w: the TPM's rollback counter is behind the store (counter %d, store %d): the TPM's NV state was rolled back or this is not the TPM the store was bound to; %s", ErrRollback, cur, rec.Value, hintAccept)
	}
}

// Advance moves the TPM's counter on by one from cur, the value Check
// agreed on, and records the new value in st. The intent is made durable
// first, so a crash at any point leaves a state Check accepts:
//
//	before the intent write:           record {cur, 0},     counter cur
//	after it, before the increment:    record {cur, cur+1}, counter cur
//	after the increment, before confirm: record {cur, cur+1}, counter cur+1
//	after confirm:                     record {cur+1, 0},   counter cur+1
func Advance(st *store.Store, c Counter, cur uint64) (uint64, error) {
	if err := st.SetTPMCounter(store.TPMCounter{Value: cur, Next: cur + 1}); err != nil {
		return 0, fmt.Errorf("daemon: rollback counter: record the increment: %w", err)
	}
	v, err := c.IncrementCounter()
	if err != nil {
		return 0, fmt.Errorf("daemon: rollback counter: %w", err)
	}
	if err := st.SetTPMCounter(store.TPMCounter{Value: v}); err != nil {
		return 0, fmt.Errorf("daemon: rollback counter: record the new value: %w", err)
	}
	return v, nil
}

// Bind records this TPM's counter (defining it when the TPM has none) in
// st, whatever st recorded before (e.g. another machine's counter in a
// restored backup), and stages e in the same transaction (Type, Actor,
// Source and Target are the caller's; the old and new counter values are
// added to Detail, Result defaults to "ok"). It returns the counter value.
// Do not call it under --dev: the simulator forgets its NV, and the dev
// store is never checked.
func Bind(st *store.Store, c Counter, e store.AuditEntry) (uint64, error) {
	v, err := c.EnsureCounter()
	if err != nil {
		return 0, fmt.Errorf("daemon: bind the store to the TPM's rollback counter: %w", err)
	}
	err = st.Update(func(tx *store.Tx) error {
		d := map[string]string{"nv_index": fmt.Sprintf("%#08x", uint32(seal.CounterIndex)), "counter": strconv.FormatUint(v, 10)}
		old, err := tx.TPMCounter()
		switch {
		case err == nil:
			d["store_counter"] = strconv.FormatUint(old.Value, 10)
		case !errors.Is(err, store.ErrNotFound):
			// A damaged record is replaced; say so in the entry.
			d["store_counter"] = "unreadable"
		}
		for k, val := range e.Detail {
			d[k] = val
		}
		e.Detail = d
		if e.Result == "" {
			e.Result = "ok"
		}
		if err := tx.SetTPMCounter(store.TPMCounter{Value: v}); err != nil {
			return err
		}
		return tx.Audit().Stage(e)
	})
	if err != nil {
		return 0, fmt.Errorf("daemon: bind the store to the TPM's rollback counter: %w", err)
	}
	return v, nil
}

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// ErrRollback is returned when the store does not match the TPM's rollback
// counter: a data dir copied back from earlier, a store from another
// install, or a TPM whose counter is gone or behind. accessd exits 6.
var ErrRollback = errors.New("daemon: rollback detected")

// hintAcceptRollback is how an operator accepts a mismatch deliberately.
const hintAcceptRollback = "if this copy was put back on purpose (a restore from an old copy of the data dir, a TPM that was cleared or replaced), accept it with `accessd recover --accept-rollback --recovery-key-file FILE`, which is audited; otherwise find out who put an old copy of the data dir in place before starting accessd"

// rollbackCounter is what the rollback check needs of the TPM.
type rollbackCounter interface {
	ReadCounter() (uint64, error)
	IncrementCounter() (uint64, error)
	EnsureCounter() (uint64, error)
}

var _ rollbackCounter = (*seal.TPM)(nil)

// checkCounter compares st's counter record with the TPM's counter and
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
func checkCounter(st *store.Store, c rollbackCounter, log *slog.Logger) (uint64, error) {
	rec, recErr := st.TPMCounter()
	if recErr != nil && !errors.Is(recErr, store.ErrNotFound) {
		return 0, fmt.Errorf("daemon: rollback check: %w", recErr)
	}
	cur, err := c.ReadCounter()
	switch {
	case errors.Is(recErr, store.ErrNotFound) && errors.Is(err, seal.ErrNoCounter):
		v, err := bindCounter(st, c, store.AuditEntry{Type: "seal.rollback_bind", Actor: "accessd", Source: "local",
			Detail: map[string]string{"reason": "first start with rollback detection"}})
		if err != nil {
			return 0, err
		}
		log.Warn("rollback detection enabled: the store is now bound to the TPM's NV counter",
			"event", "seal.rollback_bind", "nv_index", fmt.Sprintf("%#08x", uint32(seal.CounterIndex)), "counter", v)
		return v, nil
	case errors.Is(recErr, store.ErrNotFound) && err == nil:
		return 0, fmt.Errorf("%w: the store has no rollback record, but this TPM's rollback counter is in use (value %d): the data dir is a copy from before rollback detection, or from another install on this TPM; %s", ErrRollback, cur, hintAcceptRollback)
	case errors.Is(err, seal.ErrNoCounter):
		return 0, fmt.Errorf("%w: the store is bound to TPM rollback counter value %d, but this TPM has no rollback counter (it was cleared or replaced, or the counter at NV index %#08x was deleted); %s", ErrRollback, rec.Value, uint32(seal.CounterIndex), hintAcceptRollback)
	case err != nil:
		return 0, fmt.Errorf("daemon: rollback check: %w", err)
	case cur == rec.Value || (rec.Next != 0 && cur == rec.Next):
		return cur, nil
	case cur > rec.Value:
		return 0, fmt.Errorf("%w: the store is behind the TPM's rollback counter (store %d, counter %d): this data dir is an older copy than the one accessd last ran on, and records deleted or changed since (users, applications, revoked secrets) would come back; %s", ErrRollback, rec.Value, cur, hintAcceptRollback)
	default:
		return 0, fmt.Errorf("%w: the TPM's rollback counter is behind the store (counter %d, store %d): the TPM's NV state was rolled back or this is not the TPM the store was bound to; %s", ErrRollback, cur, rec.Value, hintAcceptRollback)
	}
}

// advanceCounter moves the TPM's counter on by one from cur, the value
// checkCounter agreed on, and records the new value in st. The intent is
// made durable first, so a crash at any point leaves a state
// checkCounter accepts:
//
//	before the intent write:           record {cur, 0},     counter cur
//	after it, before the increment:    record {cur, cur+1}, counter cur
//	after the increment, before confirm: record {cur, cur+1}, counter cur+1
//	after confirm:                     record {cur+1, 0},   counter cur+1
func advanceCounter(st *store.Store, c rollbackCounter, cur uint64) (uint64, error) {
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

// bindCounter records this TPM's counter (defining it when the TPM has
// none) in st, whatever st recorded before, and stages e in the same
// transaction, with the old and new values in its detail.
func bindCounter(st *store.Store, c rollbackCounter, e store.AuditEntry) (uint64, error) {
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

// BindRollbackCounter binds st to the rollback counter of the open TPM
// tpm: it defines the counter when the TPM has none, records its value in
// st (replacing whatever st recorded, e.g. another machine's counter in a
// restored backup) and stages e in the same transaction (Type, Actor,
// Source and Target are the caller's; the counter values are added to
// Detail, Result defaults to "ok"). It returns the counter value.
//
// `accessd restore` calls it on the store it has just restored, with the
// TPM it sealed the root key to; the entry is chained when the audit log
// next opens. Do not call it under --dev: the simulator forgets its NV,
// and the dev store is never checked.
func BindRollbackCounter(tpm *seal.TPM, st *store.Store, e store.AuditEntry) (uint64, error) {
	return bindCounter(st, tpm, e)
}

// rollbackStatus is what `accessctl status` says about rollback detection.
func rollbackStatus(dev bool) string {
	if dev {
		return "off (--dev)"
	}
	return "on"
}

// checkRollback is the start-up phase between opening the store and
// listening: compare the store with the TPM's counter, then move the
// counter on, so a copy of the data dir taken from now on is behind as
// soon as accessd stops or starts again. Off under --dev.
func (s *server) checkRollback(st *store.Store) error {
	if s.opt.Dev {
		s.log.Warn("rollback detection is off under --dev: the simulator keeps no NV state across runs", "event", "seal.rollback_off")
		return nil
	}
	s.n.status("checking the TPM rollback counter")
	tpm, err := openSealer(s.cfg, false)
	if err != nil {
		return err
	}
	defer tpm.Close()
	cur, err := checkCounter(st, tpm, s.log)
	if err != nil {
		if errors.Is(err, ErrRollback) {
			s.log.Error("rollback detected; start refused", "event", "seal.rollback_detected", "err", err)
		}
		return err
	}
	v, err := advanceCounter(st, tpm, cur)
	if err != nil {
		return err
	}
	s.log.Info("rollback counter checked and advanced", "event", "seal.rollback_counter", "counter", v)
	return nil
}

// advanceRollbackAtStop moves the counter on at a clean stop, after the
// last write, so a copy taken while accessd ran is behind afterwards. A
// failure is logged, not returned: the stop itself succeeded, and the next
// start checks (and advances) again.
func (s *server) advanceRollbackAtStop(st *store.Store) {
	if s.opt.Dev {
		return
	}
	tpm, err := openSealer(s.cfg, false)
	if err != nil {
		s.log.Error("rollback counter not advanced at stop", "event", "seal.rollback_stop_error", "err", err)
		return
	}
	defer tpm.Close()
	cur, err := checkCounter(st, tpm, s.log)
	if err == nil {
		var v uint64
		if v, err = advanceCounter(st, tpm, cur); err == nil {
			s.log.Info("rollback counter advanced at stop", "event", "seal.rollback_counter", "counter", v)
			return
		}
	}
	s.log.Error("rollback counter not advanced at stop", "event", "seal.rollback_stop_error", "err", err)
}

// AcceptRollback binds this data dir's store to the TPM's rollback counter
// as it is now, after a start was refused with ErrRollback, and records
// who did it in the audit log. It needs the recovery key (keyText, its
// printed form), like Recover: accepting a rollback brings back records
// that were deleted or changed, so it takes the same authority as
// recovering the root key. The daemon must be stopped.
func AcceptRollback(cfg Config, dev bool, keyText []byte, log *slog.Logger) error {
	if dev {
		return errors.New("daemon: rollback detection is off under --dev (the simulator keeps no NV state); there is nothing to accept")
	}
	release, err := prepareKeyOp(cfg, log)
	if err != nil {
		return err
	}
	defer release()
	root, err := rootFromRecovery(cfg, keyText, "accept rollback") // the key, or M of its shares
	if err != nil {
		return err
	}
	defer root.Destroy()
	if _, err := os.Stat(dbPath(cfg.DataDir)); err != nil {
		return fmt.Errorf("daemon: accept rollback: no store at %s: %w", dbPath(cfg.DataDir), err)
	}
	st, err := store.Open(dbPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log})
	if errors.Is(err, store.ErrKeyMismatch) {
		return fmt.Errorf("daemon: the recovery key opens root.recovery but not the store in %s; is this root.recovery from another install? nothing was changed", cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("daemon: accept rollback: open store (stop accessd first): %w", err)
	}
	tpm, err := openSealer(cfg, false)
	if err != nil {
		st.Close()
		return err
	}
	v, err := bindChainClose(st, tpm, store.AuditEntry{Type: "seal.rollback_accept", Actor: "uid:" + strconv.Itoa(os.Getuid()),
		Source: "accessd recover --accept-rollback", Target: "store"}, log)
	tpm.Close()
	if err != nil {
		return err
	}
	log.Warn("rollback accepted: the store is bound to the TPM's rollback counter as it is now",
		"event", "seal.rollback_accept", "counter", v, "uid", os.Getuid())
	return nil
}

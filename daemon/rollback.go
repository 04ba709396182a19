package daemon

import (
	"errors"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/daemon/internal/rollback"
	"github.com/accessd/accessd/store"
)

// ErrRollback is returned when the store does not match the TPM's rollback
// counter: a data dir copied back from earlier, a store from another
// install, or a TPM whose counter is gone or behind. accessd exits 6. Serve
// and the ceremonies (recover, accept-rollback) return it wrapped.
var ErrRollback = rollback.ErrRollback

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
	tpm, err := datadir.OpenSealer(s.cfg.DataDir, s.cfg.Seal.Device, false)
	if err != nil {
		return err
	}
	defer tpm.Close()
	cur, err := rollback.Check(st, tpm, s.log)
	if err != nil {
		if errors.Is(err, rollback.ErrRollback) {
			s.log.Error("rollback detected; start refused", "event", "seal.rollback_detected", "err", err)
		}
		return err
	}
	v, err := rollback.Advance(st, tpm, cur)
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
	tpm, err := datadir.OpenSealer(s.cfg.DataDir, s.cfg.Seal.Device, false)
	if err != nil {
		s.log.Error("rollback counter not advanced at stop", "event", "seal.rollback_stop_error", "err", err)
		return
	}
	defer tpm.Close()
	cur, err := rollback.Check(st, tpm, s.log)
	if err == nil {
		var v uint64
		if v, err = rollback.Advance(st, tpm, cur); err == nil {
			s.log.Info("rollback counter advanced at stop", "event", "seal.rollback_counter", "counter", v)
			return
		}
	}
	s.log.Error("rollback counter not advanced at stop", "event", "seal.rollback_stop_error", "err", err)
}

package ceremony

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/daemon/internal/rollback"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// The rollback counter and `accessd recover`.
//
// A TPM that was cleared or replaced has lost the NV counter the store is
// bound to, so the first start after a recovery would refuse with
// ErrRollback however fresh the store is. Recover therefore binds the
// store to a new counter itself, audited, when it finds root.sealed sealed
// under another storage root key and the TPM without a rollback counter:
// nothing on the new TPM can say whether the store is current, and the
// operator has just shown the recovery key, the authority `recover
// --accept-rollback` asks for. Both conditions, because a root.sealed
// altered by someone who can write the data dir also reads as "another
// TPM", but that someone cannot remove the counter of the TPM in hand, so
// an older copy put back with it is still caught. It binds before it
// re-seals, so a recover killed before or after the bind is simply run
// again: until root.sealed is re-sealed, it still finds the other TPM's
// file, and the counter it bound to agrees with the store. (Killed inside
// the bind, between defining the counter and recording it, the store and
// the new counter disagree: recover then exits 6 naming --accept-rollback.)
//
// When the TPM is the one root.sealed was sealed under (PCRs changed, or a
// recover that already re-sealed), a disagreement with its counter is
// evidence of a rollback, not of a new TPM: Recover does not accept it, it
// returns ErrRollback naming `accessd recover --accept-rollback`, so it
// never says "start accessd again" to a start that would refuse.

// tpmReplaced reports whether root.sealed was sealed under another storage
// root key than s's: the TPM was cleared or replaced since.
func tpmReplaced(cfg Config, s seal.Sealer) bool {
	root, _, err := seal.ReadSealedFile(datadir.SealedPath(cfg.DataDir), s)
	if err == nil {
		root.Destroy()
	}
	return errors.Is(err, seal.ErrWrongTPM)
}

// counterGone reports whether the TPM has no rollback counter (cleared,
// or never used by accessd).
func counterGone(tpm *seal.TPM) bool {
	_, err := tpm.ReadCounter()
	return errors.Is(err, seal.ErrNoCounter)
}

// bindAfterClear binds the store to the rollback counter of tpm (defining
// it) and chains an audit entry saying recover did it.
func bindAfterClear(cfg Config, root seal.RootKey, tpm *seal.TPM, log *slog.Logger) error {
	q := audit.NewQueue()
	st, err := store.Open(datadir.DBPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log, Audit: q})
	if err != nil {
		return fmt.Errorf("daemon: recover: open store (stop accessd first): %w", err)
	}
	v, err := bindChainClose(cfg, st, q, tpm, store.AuditEntry{Type: "seal.rollback_bind", Actor: "uid:" + strconv.Itoa(os.Getuid()),
		Source: "accessd recover", Target: "store",
		Detail: map[string]string{"reason": "recovered onto a TPM that was cleared or replaced"}}, log)
	if err != nil {
		return err
	}
	log.Warn("the TPM was cleared or replaced: the store is bound to a new rollback counter on it",
		"event", "seal.rollback_bind", "nv_index", fmt.Sprintf("%#08x", uint32(seal.CounterIndex)), "counter", v)
	return nil
}

// checkAfterRecover compares the store with the counter of the TPM the
// key was sealed to and returns ErrRollback, naming the command that
// accepts it, when the next start would refuse.
func checkAfterRecover(cfg Config, root seal.RootKey, log *slog.Logger) error {
	st, err := store.Open(datadir.DBPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("daemon: recover: open store (stop accessd first): %w", err)
	}
	defer st.Close()
	tpm, err := openSealer(cfg, false)
	if err != nil {
		return err
	}
	defer tpm.Close()
	if _, err := rollback.Check(st, tpm.TPM, log); err != nil {
		return fmt.Errorf("daemon: the root key is re-sealed to this TPM, but accessd would refuse to start: %w", err)
	}
	return nil
}

// bindChainClose binds st (opened with audit queue q) to c's counter
// with entry e (bindCounter), chains the entry, and closes st.
func bindChainClose(cfg Config, st *store.Store, q *audit.Queue, c rollback.Counter, e store.AuditEntry, log *slog.Logger) (uint64, error) {
	v, err := rollback.Bind(st, c, e)
	if err == nil {
		err = chainAudit(cfg, st, q, log)
	}
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("daemon: close store: %w", cerr)
	}
	return v, err
}

// chainAudit opens and closes the audit log, which chains what was staged,
// so `accessctl audit list` shows it from the first start on.
func chainAudit(cfg Config, st *store.Store, q *audit.Queue, log *slog.Logger) error {
	al, err := audit.Open(st, q, audit.Options{Emit: cfg.emit(log), Log: log})
	if err != nil {
		return err
	}
	return al.Close()
}

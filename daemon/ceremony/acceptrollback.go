package ceremony

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

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
	if _, err := os.Stat(datadir.DBPath(cfg.DataDir)); err != nil {
		return fmt.Errorf("daemon: accept rollback: no store at %s: %w", datadir.DBPath(cfg.DataDir), err)
	}
	q := audit.NewQueue()
	st, err := store.Open(datadir.DBPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log, Audit: q})
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
	v, err := bindChainClose(cfg, st, q, tpm, store.AuditEntry{Type: "seal.rollback_accept", Actor: "uid:" + strconv.Itoa(os.Getuid()),
		Source: "accessd recover --accept-rollback", Target: "store"}, log)
	tpm.Close()
	if err != nil {
		return err
	}
	log.Warn("rollback accepted: the store is bound to the TPM's rollback counter as it is now",
		"event", "seal.rollback_accept", "counter", v, "uid", os.Getuid())
	return nil
}

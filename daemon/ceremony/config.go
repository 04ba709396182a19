package ceremony

import (
	"log/slog"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Config is what the ceremonies need of accessd.toml, and of the service
// whose data dir they prepare: the daemon package builds it from its
// config (daemon.Config.Ceremony).
type Config struct {
	DataDir string
	Seal    Seal
	// Journal returns the audit log's Emit for log: the entries the
	// ceremonies chain (a rollback binding, a restore) are copied to the
	// journal as serve copies every entry. nil copies nothing.
	Journal func(log *slog.Logger) func(store.AuditEntry)
	// Seed creates the default groups and the admin user in a new store,
	// with the same rules and audit as every later change, and returns
	// the admin's ID and generated password for one-time display; q is
	// the audit queue st was opened with, for its audit writer. Init
	// needs it; the other ceremonies do not.
	Seed func(st *store.Store, q *audit.Queue, log *slog.Logger) (adminID string, pw []byte, err error)
}

// Seal says which TPM holds the root key (seal.device) and which PCRs a
// new sealing binds it to (seal.pcrs).
type Seal struct {
	Device string
	PCRs   []int
}

// emit is the audit log's Emit for log.
func (c Config) emit(log *slog.Logger) func(store.AuditEntry) {
	if c.Journal == nil {
		return nil
	}
	return c.Journal(log)
}

// openSealer opens the TPM cfg names (see datadir.OpenSealer).
func openSealer(cfg Config, dev bool) (*datadir.Sealer, error) {
	return datadir.OpenSealer(cfg.DataDir, cfg.Seal.Device, dev)
}

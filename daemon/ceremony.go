package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/accessd/accessd/daemon/ceremony"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// Ceremony is what the key ceremonies (init, recover, reseal,
// rekey-recovery, restore, accept-rollback) take of c: the data dir, the
// TPM and its PCRs, the journal copy of audit entries, and the identity
// layer that seeds a new store.
func (c Config) Ceremony() ceremony.Config {
	return ceremony.Config{
		DataDir: c.DataDir,
		Seal:    ceremony.Seal(c.Seal),
		Journal: journalEmitter,
		Seed: func(st *store.Store, q *audit.Queue, log *slog.Logger) (string, []byte, error) {
			return seed(st, q, c, log)
		},
	}
}

// seed creates the default groups and the admin user through the
// Identity layer, with the same rules and audit as every later change,
// and returns the admin's generated password for one-time display.
func seed(st *store.Store, q *audit.Queue, cfg Config, log *slog.Logger) (adminID string, pw []byte, err error) {
	al, err := audit.Open(st, q, audit.Options{Emit: journalEmitter(log), Log: log})
	if err != nil {
		return "", nil, fmt.Errorf("daemon: audit log: %w", err)
	}
	defer al.Close()
	svc, err := directory.New(st, cfg.Identity, directory.Options{Audit: al, Index: authz.New(), Log: log})
	if err != nil {
		return "", nil, err
	}
	return svc.Bootstrap(context.Background())
}

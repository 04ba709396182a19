package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store/audit"
)

// AuditConfig is the [audit] table.
type AuditConfig struct {
	// Retention is how long an audit entry stays in the store. Older
	// entries are exported to an archive file under
	// <data>/audit-archive/ and removed, and the chain continues from a
	// checkpoint that `accessctl audit verify` checks; so the store does
	// not grow without bound, and the archives can be moved to long-term
	// storage.
	Retention directory.Duration `toml:"retention"`
}

const (
	// defaultRetention is 400 days: a year's audit plus slack for the
	// audit that reviews it.
	defaultRetention = 9600 * time.Hour
	// minRetention keeps a typo ("24m") from archiving the whole log:
	// the log must cover at least the last day.
	minRetention = 24 * time.Hour
	// retainEvery is how often retention runs after the pass at start.
	retainEvery = time.Hour
)

// auditArchiveDir is where retention writes archives, 0700 like the
// data dir; an operator moves them to long-term storage from there.
func auditArchiveDir(data string) string { return filepath.Join(data, "audit-archive") }

// retainAudit enforces audit retention once at start and then hourly
// until ctx ends. It runs beside serving: the prune does not hold up
// the chain writer, and a prune cut short by a stop is finished by the
// next start.
func (s *server) retainAudit(ctx context.Context, al *audit.Log) {
	t := time.NewTicker(retainEvery)
	defer t.Stop()
	for {
		pruneAudit(ctx, al, s.cfg.DataDir, s.cfg.Audit.Retention.Duration, time.Now(), s.log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneAudit runs one retention pass, archiving the entries older than
// now-retention, and logs what it did: counts, sequence numbers and the
// archive's name, never what an entry says.
func pruneAudit(ctx context.Context, al *audit.Log, dataDir string, retention time.Duration, now time.Time, log *slog.Logger) (audit.PruneResult, error) {
	before := now.Add(-retention)
	res, err := al.Prune(ctx, before, auditArchiveDir(dataDir))
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		log.Info("audit retention stopped with the daemon; the next start finishes it", "event", "audit.prune_stopped",
			"archived", res.Archived, "deleted", res.Deleted)
	case err != nil:
		log.Error("audit retention failed; entries stay in the store and it is retried within the hour", "event", "audit.prune_error",
			"archived", res.Archived, "deleted", res.Deleted, "err", err)
	case res.Checkpoint != nil:
		cp := res.Checkpoint
		log.Info("old audit entries archived and removed from the store", "event", "audit.pruned",
			"archived", res.Archived, "deleted", res.Deleted, "first_seq", cp.FirstSeq, "last_seq", cp.Seq,
			"archive", filepath.Join(auditArchiveDir(dataDir), cp.Archive), "before", before.UTC().Format(time.RFC3339))
	case res.Deleted > 0:
		log.Info("archived audit entries a stopped run left in the store were removed", "event", "audit.pruned",
			"archived", 0, "deleted", res.Deleted)
	default:
		log.Debug("no audit entries old enough to archive", "event", "audit.prune_none", "before", before.UTC().Format(time.RFC3339))
	}
	return res, err
}

package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

// TestPruneAudit: a retention pass archives what is older than the
// retention into <data>/audit-archive/, logs counts and the archive's
// name but nothing an entry says, and a pass with nothing old does
// nothing.
func TestPruneAudit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	st := storetest.Open(t)
	al, err := audit.Open(st, storetest.Queue(t, st), audit.Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	t.Cleanup(func() { al.Close() })
	for i, age := range []time.Duration{500, 450, 401, 399, 1} {
		require.NoError(t, al.Record(context.Background(), store.AuditEntry{Time: now.Add(-age * 24 * time.Hour),
			Type: "user.update", Target: "user:confidential-target", Detail: map[string]string{"email": "someone@example.com", "i": string(rune('a' + i))}}))
	}
	data := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	res, err := pruneAudit(context.Background(), al, data, defaultRetention, now, log)
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Archived)
	require.EqualValues(t, 3, res.Deleted)
	archive := filepath.Join(data, "audit-archive", res.Checkpoint.Archive)
	require.NoError(t, audit.VerifyArchive(archive, *res.Checkpoint))
	fi, err := os.Stat(filepath.Dir(archive))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	out := logs.String()
	require.Contains(t, out, `"event":"audit.pruned"`)
	require.Contains(t, out, `"archived":3`)
	require.Contains(t, out, `"archive":"`+archive+`"`)
	require.NotContains(t, out, "confidential-target")
	require.NotContains(t, out, "someone@example.com")
	v, err := audit.Verify(st)
	require.NoError(t, err)
	require.True(t, v.OK, "%+v", v)

	logs.Reset()
	res, err = pruneAudit(context.Background(), al, data, defaultRetention, now, log)
	require.NoError(t, err)
	require.Equal(t, audit.PruneResult{}, res)
	require.Contains(t, logs.String(), `"event":"audit.prune_none"`)
	files, err := os.ReadDir(filepath.Dir(archive))
	require.NoError(t, err)
	require.Len(t, files, 1)

	logs.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = pruneAudit(ctx, al, data, defaultRetention, now.Add(time.Hour*24*300), log)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, logs.String(), `"event":"audit.prune_stopped"`, "a stop is not logged as a failure")
}

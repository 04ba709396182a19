package audit

import "github.com/accessd/accessd/store"

// Test-only hooks, compiled only into this package's test binary.

// SetPruneStepForTest makes Prune call step after each of its steps
// ("archived", "checkpointed", and "deleted" after every batch) and stop
// with its error, as a crash there would.
func SetPruneStepForTest(l *Log, step func(name string) error) { l.pruneStep = step }

// SetPruneBatchForTest sets how many entries one deletion transaction of
// Prune removes.
func SetPruneBatchForTest(l *Log, n int) { l.pruneBatch = n }

// AppendForTest chains entries as the writer does, with nothing taken
// off the queue: a second writer racing the first.
func AppendForTest(st *store.Store, entries []store.AuditEntry) error {
	return appendEntries(st.AuditLog(), nil, entries, true)
}

// SetCheckpointForTest records cp as Prune does after writing its
// archive.
func SetCheckpointForTest(st *store.Store, cp Checkpoint) error {
	return setCheckpoint(st.AuditLog(), cp)
}

// DeleteArchivedForTest is one of Prune's deletion transactions.
func DeleteArchivedForTest(st *store.Store, limit int) (int, error) {
	return deleteArchivedBatch(st.AuditLog(), limit)
}

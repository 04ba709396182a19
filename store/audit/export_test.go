package audit

// Test-only hooks, compiled only into this package's test binary.

// SetPruneStepForTest makes Prune call step after each of its steps
// ("archived", "checkpointed", and "deleted" after every batch) and stop
// with its error, as a crash there would.
func SetPruneStepForTest(l *Log, step func(name string) error) { l.pruneStep = step }

// SetPruneBatchForTest sets how many entries one deletion transaction of
// Prune removes.
func SetPruneBatchForTest(l *Log, n int) { l.pruneBatch = n }

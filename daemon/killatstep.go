package daemon

import (
	"os"
	"syscall"
)

// killAtStepEnv names a durable step at which a ceremony kills itself with
// SIGKILL, for the crash tests in cmd/accessd; unset (always, outside those
// tests) it does nothing. The steps of `accessd restore`, each right after
// the step is on disk:
//
//	restore.marked    the unfinished-restore marker
//	restore.sealed    seal/root.sealed
//	restore.recovery  seal/root.recovery
//	restore.store     the restored store, renamed into place
//	restore.bound     the store bound to the TPM's rollback counter, with
//	                  its store.restored entry staged
//	restore.recorded  that entry chained into the audit log
const killAtStepEnv = "ACCESSD_TEST_CRASH_AT"

// killAtStep kills the process if killAtStepEnv names step.
func killAtStep(step string) {
	if os.Getenv(killAtStepEnv) != step {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

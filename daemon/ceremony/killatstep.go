package ceremony

import (
	"os"
	"syscall"
)

// killAtStepEnv names a durable step at which a ceremony kills itself with
// SIGKILL, as a power cut or an OOM kill would (no deferred function
// runs), for the crash tests in cmd/accessd; unset (always, outside those
// tests) it does nothing. Each step is right after the change it names is
// on disk. (The seal package has its own steps, seal.*, in
// seal/crashpoint.go.)
//
// accessd init:
//
//	init.sealed       seal/root.sealed
//	init.recovery     seal/root.recovery
//	init.store        the store (db/) created
//	init.seeded       the groups and the admin user seeded
//	init.bound        the store bound to the rollback counter, closed
//	init.shown        the recovery key and admin password printed, before
//	                  the data dir is marked complete
//
// accessd rekey-recovery:
//
//	rekey-pending     root.recovery holds the old and the new wrap; the new key not yet shown
//	rekey-delivered   the new key shown (or written to --out) in full
//	rekey-finished    --finish wrote the new wrap alone
//	rekey-aborted     --abort wrote the old wrap alone
//
// accessd restore:
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
	if at := os.Getenv(killAtStepEnv); at == "" || at != step {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

package daemon

import (
	"os"
	"syscall"
)

// ACCESSD_TEST_CRASH_AT names a durable step of init at which the process
// kills itself with SIGKILL, for the crash tests of init
// (cmd/accessd/crash_kd_test.go). Unset, as always in production, it does
// nothing. The steps:
//
//	init.sealed     init wrote seal/root.sealed
//	init.recovery   init wrote seal/root.recovery
//	init.store      init created the store (db/)
//	init.seeded     init seeded the groups and the admin user
//	init.bound      init bound the store to the rollback counter, closed it
//	init.shown      init printed the recovery key and admin password,
//	                before it marked the data dir complete
//
// initCrashPoint kills the process at step when ACCESSD_TEST_CRASH_AT names it:
// no deferred function runs, as in a power cut or an OOM kill.
func initCrashPoint(step string) {
	if os.Getenv("ACCESSD_TEST_CRASH_AT") == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

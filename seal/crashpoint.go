package seal

import (
	"os"
	"syscall"
)

// crashAtEnv names a step at which the process kills itself with SIGKILL,
// for the crash tests: they prove that what a killed ceremony leaves in a
// TPM without a resource manager does not keep the next one from running.
// Unset (always, outside those tests) it does nothing. The steps:
//
//	seal.unseal.srk      Unseal has created the transient SRK
//	seal.unseal.loaded   Unseal has also loaded the sealed object
//	seal.unseal.session  Unseal has also started its PCR policy session
//	seal.seal.srk        Seal has created the transient SRK
const crashAtEnv = "ACCESSD_TEST_CRASH_AT"

// crashPoint kills the process at step when ACCESSD_TEST_CRASH_AT names it.
func crashPoint(step string) {
	if os.Getenv(crashAtEnv) == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

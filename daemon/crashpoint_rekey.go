package daemon

import (
	"os"
	"syscall"
	"time"
)

// rekeyCrashPoint kills the process with SIGKILL, as a power cut would,
// when the environment variable ACCESSD_TEST_CRASH_AT names step. The
// crash tests of rekey-recovery set it; unset, it does nothing. Steps,
// each just after a durable change:
//
//	rekey-pending    root.recovery holds the old and the new wrap; the new key not yet shown
//	rekey-delivered  the new key shown (or written to --out) in full
//	rekey-finished   --finish wrote the new wrap alone
//	rekey-aborted    --abort wrote the old wrap alone
func rekeyCrashPoint(step string) {
	if at := os.Getenv("ACCESSD_TEST_CRASH_AT"); at != "" && at == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for {
			time.Sleep(time.Second) // the signal is on its way
		}
	}
}

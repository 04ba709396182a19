package lockdown

import (
	"fmt"
	"strings"

	"github.com/accessd/accessd/seal"
)

// checkTPMSlots looks into a TPM without a resource manager (swtpm over
// TCP) for transient objects and sessions that no running program holds:
// a killed ceremony leaves them, and three of them fill swtpm. serve
// flushes them when it opens the TPM, so they are a warning, with the way
// to free them by hand. Behind /dev/tpmrm0 the kernel flushes a program's
// handles when it exits, and a process sees only its own: nothing to look
// at. An address that does not answer TPM commands is the seal-device
// check's finding, not this one's.
func checkTPMSlots(e *env) Finding {
	const name = "tpm-slots"
	if !strings.HasPrefix(e.SealDevice, "tcp://") {
		return pass(name, SeverityWarning, "no leftover TPM handles to look for: the kernel's resource manager (or the in-process simulator) frees them")
	}
	n, full, err := seal.Inspect(e.SealDevice)
	if err != nil {
		return info(name, "could not look for leftover TPM handles: "+strings.TrimPrefix(err.Error(), "seal: "), "")
	}
	if n.Objects+n.Sessions == 0 && !full {
		return pass(name, SeverityWarning, "no transient objects or sessions left loaded in the TPM")
	}
	found := fmt.Sprintf("%s and %s are loaded in the TPM by programs that are gone (swtpm has no resource manager)",
		count(n.Objects, "transient object"), count(n.Sessions, "session"))
	if full {
		found += "; its object or session slots are full"
	}
	return fail(name, SeverityWarning, found,
		"`accessd serve` (and reseal, recover) flush them when they open the TPM and log it; to free them now: "+seal.SlotsHint(e.SealDevice))
}

// count says "1 session" or "3 sessions".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

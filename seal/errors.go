package seal

import (
	"errors"
	"fmt"
	"strings"
)

// The errors below are part of the package's contract: callers tell them
// apart with errors.Is and map them to exit codes and advice. They are always
// returned wrapped, with a "seal:" prefix and a sentence saying what to do.
var (
	// ErrNoDevice means no TPM answered at the configured address: there is
	// no such device, nothing listens on the TCP port, or the binary was
	// built without the simulator.
	ErrNoDevice = errors.New("no TPM found")

	// ErrPermission means a TPM is there but the process may not open it.
	ErrPermission = errors.New("permission denied on the TPM")

	// ErrPCRMismatch means the TPM refused to unseal because PCRs the key is
	// bound to have changed. ReadSealedFile returns it as a
	// *PCRMismatchError that names the PCRs.
	ErrPCRMismatch = errors.New("PCR values changed since sealing")

	// ErrWrongTPM means the file was sealed by another TPM: another host,
	// another kind of TPM, or this TPM before it was cleared. A modified
	// file can produce it too, which is why its message says so.
	ErrWrongTPM = errors.New("sealed by a different TPM, or modified")

	// ErrTampered means a file failed its integrity checks: it was modified
	// or corrupted, and nothing in it can be trusted.
	ErrTampered = errors.New("modified or corrupted")

	// ErrWrongRecoveryKey means the recovery key is well formed but is not
	// the one root.recovery was written with.
	ErrWrongRecoveryKey = errors.New("wrong recovery key")

	// ErrRecoveryKeyFormat means the text is not a recovery key: wrong
	// length, a character outside the alphabet, or a failed checksum (a typo).
	ErrRecoveryKeyFormat = errors.New("malformed recovery key")

	// ErrSimulatorInUse means this process already has the in-process
	// simulator open; its C state is global, so only one can exist at a time.
	ErrSimulatorInUse = errors.New("the TPM simulator is already open in this process")
)

// hintRecover is the advice attached to every error that only the recovery
// key can get past.
const hintRecover = "run `accessd recover --recovery-key-file FILE` to unwrap the root key with the recovery key and seal it to the TPM in hand"

// PCRMismatchError is the ErrPCRMismatch that ReadSealedFile returns. It
// carries the PCRs whose values differ from those recorded at sealing time so
// that an operator can tell a firmware update (PCR 0, 2) from a Secure Boot
// policy change (PCR 7) before deciding to recover.
type PCRMismatchError struct {
	// Changed lists the PCR indices that differ, ascending.
	Changed []int
	// Planned says a planned change was pending: the PCRs hold neither the
	// sealed values nor the planned ones, and Changed lists the PCRs that
	// differ from either.
	Planned bool
}

// Error names the changed PCRs and says what to do.
func (e *PCRMismatchError) Error() string {
	var b strings.Builder
	b.WriteString("seal: unseal root key: ")
	if len(e.Changed) == 1 {
		fmt.Fprintf(&b, "PCR %d changed since sealing", e.Changed[0])
	} else {
		b.WriteString("PCRs ")
		for i, p := range e.Changed {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d", p)
		}
		b.WriteString(" changed since sealing")
	}
	if e.Planned {
		b.WriteString(", and the planned values prepared with `accessd reseal --pcr-values` do not match either")
	}
	b.WriteString("; if this was a planned firmware or Secure Boot change, ")
	b.WriteString("run `accessd recover --recovery-key-file FILE` to seal the root key to the new values; ")
	b.WriteString("otherwise find out what changed in the boot chain before recovering")
	if !e.Planned {
		b.WriteString(" (next time, `accessd reseal --pcr-values` before a planned change avoids the recovery key)")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrPCRMismatch) hold.
func (e *PCRMismatchError) Unwrap() error { return ErrPCRMismatch }

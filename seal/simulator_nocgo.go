//go:build !cgo

package seal

import "fmt"

// SimulatorBuiltIn reports whether this binary holds the in-process
// simulator (cgo builds only; never the packaged binaries).
const SimulatorBuiltIn = false

// openSimulator fails: the simulator is C code, and this binary was built
// without cgo (as the packaged, static binaries are).
func openSimulator(Config) (*TPM, error) {
	return nil, fmt.Errorf("seal: open simulator: %w: this binary was built without the TPM simulator (CGO_ENABLED=0); use a TPM device or swtpm (tcp://127.0.0.1:2321)", ErrNoDevice)
}

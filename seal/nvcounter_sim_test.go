//go:build cgo

package seal_test

import (
	"testing"
)

// TestCounterSimulator: the in-process simulator implements the counter
// too; it keeps NV only in memory, which is why --dev turns rollback
// detection off.
func TestCounterSimulator(t *testing.T) {
	counterContract(t, openSim(t, ""))
}

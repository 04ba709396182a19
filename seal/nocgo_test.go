//go:build !cgo

package seal_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accessd/accessd/seal"
)

func TestNoSimulatorWithoutCgo(t *testing.T) {
	_, err := seal.Open(seal.Config{Device: "simulator"})
	if !errors.Is(err, seal.ErrNoDevice) || !strings.Contains(err.Error(), "built without the TPM simulator") {
		t.Fatalf("Open(simulator) = %v, want ErrNoDevice saying the binary was built without the simulator", err)
	}
}

//go:build !cgo

package seal_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

func TestNoSimulatorWithoutCgo(t *testing.T) {
	_, err := seal.Open(seal.Config{Device: "simulator"})
	require.False(t, !errors.Is(err, seal.ErrNoDevice) || !strings.Contains(err.Error(), "built without the TPM simulator"), "Open(simulator) = %v, want ErrNoDevice saying the binary was built without the simulator", err)
}

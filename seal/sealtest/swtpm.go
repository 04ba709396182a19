package sealtest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// StartSwtpm starts a real software TPM (Debian's swtpm) on stateDir,
// listening on 127.0.0.1:port (0 picks one), and stops it when the test
// ends. It skips the test when swtpm is not installed, saying how to get
// it; scripts/test installs it, so there it always runs.
func StartSwtpm(t testing.TB, stateDir string, port int) *seal.Swtpm {
	t.Helper()
	s, err := seal.StartSwtpm(stateDir, port)
	if errors.Is(err, seal.ErrNoSwtpm) {
		t.Skipf("skipping: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

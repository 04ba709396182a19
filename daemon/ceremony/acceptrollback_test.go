package ceremony

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestAcceptRollbackDevRefused: under --dev there is no counter to accept.
func TestAcceptRollbackDevRefused(t *testing.T) {
	t.Parallel()
	err := AcceptRollback(Config{DataDir: t.TempDir()}, true, nil, quiet)
	require.ErrorContains(t, err, "off under --dev")
}

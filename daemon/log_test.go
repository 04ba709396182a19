package daemon

import (
	"io"
	"log/slog"
)

// quiet is a log that discards everything, for tests that do not read it.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

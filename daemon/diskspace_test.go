package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/directory"
)

// TestDiskGuard walks the free space down and up through min_free and the
// floor: writes are refused (a 503 that names the numbers and the fix)
// below min_free and allowed again above it, the floor is a quarter of
// min_free, and "0B" turns the guard off.
func TestDiskGuard(t *testing.T) {
	t.Parallel()
	free := uint64(0)
	g := newDiskGuard("/data", directory.Size(16<<20), slog.New(slog.DiscardHandler))
	g.free = func(string) (uint64, error) { return free, nil }
	steps := []struct {
		free          uint64
		refused, stop bool
	}{
		{100 << 20, false, false},
		{16 << 20, false, false},
		{16<<20 - 1, true, false},
		{4 << 20, true, false},
		{4<<20 - 1, true, true},
		{17 << 20, false, false},
	}
	for _, s := range steps {
		free = s.free
		_, below := g.check()
		err := g.allowWrite()
		require.False(t, (err != nil) != s.refused || below != s.stop, "free %d: refused %v (%v), below floor %v; want %v, %v", s.free, err != nil, err, below, s.refused, s.stop)
		if err != nil {
			assert.EqualValues(t, api.ErrUnavailable, api.FaultOf(err), "refusal maps to %v, want 503", api.FaultOf(err))
			for _, want := range []string{"disk nearly full", "min_free is 16.0MiB", "/data", "free space"} {
				assert.Contains(t, err.Error(), want, "refusal %q does not say %q", err, want)
			}
		}
	}
	assert.ErrorIs(t, g.floorError(1<<20), ErrDiskFloor, "floorError does not wrap ErrDiskFloor")

	off := newDiskGuard("/data", 0, slog.New(slog.DiscardHandler))
	off.free = func(string) (uint64, error) { return 0, nil }
	if _, below := off.check(); below || off.allowWrite() != nil {
		assert.Fail(t, fmt.Sprint(`min_free = "0B" still refuses or stops`))
	}
}

func TestStoreConfig(t *testing.T) {
	t.Parallel()
	if got := Default().Store.MinFree; got != 512<<20 {
		assert.Fail(t, fmt.Sprintf("default min_free = %v, want 512MiB", got))
	}
	p := filepath.Join(t.TempDir(), "accessd.toml")
	require.NoError(t, os.WriteFile(p, []byte("[store]\nmin_free = \"1GiB\"\n"), 0o600))
	cfg, err := LoadConfig(p)
	require.False(t, err != nil || cfg.Store.MinFree != 1<<30, "min_free = %v, %v", cfg.Store.MinFree, err)
	require.NoError(t, os.WriteFile(p, []byte("[store]\nmin_free = \"lots\"\n"), 0o600))
	var ce *ConfigError
	if _, err := LoadConfig(p); !errors.As(err, &ce) || ce.Key != "store.min_free" {
		require.Fail(t, fmt.Sprintf("a bad min_free: %v", err))
	}
}

package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
)

// TestDiskGuard walks the free space down and up through min_free and the
// floor: writes are refused (a 503 that names the numbers and the fix)
// below min_free and allowed again above it, the floor is a quarter of
// min_free, and "0B" turns the guard off.
func TestDiskGuard(t *testing.T) {
	free := uint64(0)
	g := newDiskGuard("/data", identity.Size(16<<20), slog.New(slog.DiscardHandler))
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
		if (err != nil) != s.refused || below != s.stop {
			t.Fatalf("free %d: refused %v (%v), below floor %v; want %v, %v", s.free, err != nil, err, below, s.refused, s.stop)
		}
		if err != nil {
			if api.FaultOf(err) != api.ErrUnavailable {
				t.Errorf("refusal maps to %v, want 503", api.FaultOf(err))
			}
			for _, want := range []string{"disk nearly full", "min_free is 16.0MiB", "/data", "free space"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
		}
	}
	if !errors.Is(g.floorError(1<<20), ErrDiskFloor) {
		t.Error("floorError does not wrap ErrDiskFloor")
	}

	off := newDiskGuard("/data", 0, slog.New(slog.DiscardHandler))
	off.free = func(string) (uint64, error) { return 0, nil }
	if _, below := off.check(); below || off.allowWrite() != nil {
		t.Error(`min_free = "0B" still refuses or stops`)
	}
}

func TestStoreConfig(t *testing.T) {
	if got := Default().Store.MinFree; got != 512<<20 {
		t.Errorf("default min_free = %v, want 512MiB", got)
	}
	p := filepath.Join(t.TempDir(), "accessd.toml")
	if err := os.WriteFile(p, []byte("[store]\nmin_free = \"1GiB\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil || cfg.Store.MinFree != 1<<30 {
		t.Fatalf("min_free = %v, %v", cfg.Store.MinFree, err)
	}
	if err := os.WriteFile(p, []byte("[store]\nmin_free = \"lots\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if _, err := LoadConfig(p); !errors.As(err, &ce) || ce.Key != "store.min_free" {
		t.Fatalf("a bad min_free: %v", err)
	}
}

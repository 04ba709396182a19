package testkit_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/storetest/testkit"
)

func TestClockMoves(t *testing.T) {
	t.Parallel()
	c := testkit.NewClock(time.Time{})
	require.Equal(t, testkit.Epoch, c.Now())
	c.Add(-time.Hour)
	require.Equal(t, testkit.Epoch.Add(-time.Hour), c.Now())
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(at)
	require.Equal(t, at, c.Now())
}

// recorder is a testing.TB that remembers a failure instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestGoldenComparesBytes(t *testing.T) {
	if testkit.Updating() {
		t.Skip("compares only")
	}
	dir := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(dir))
	t.Cleanup(func() { _ = os.Chdir(wd) })
	require.NoError(t, os.MkdirAll("testdata", 0o755))
	require.NoError(t, os.WriteFile(filepath.Join("testdata", "x.golden"), []byte("want"), 0o644))

	same := &recorder{TB: t}
	testkit.Golden(same, "x.golden", []byte("want"))
	require.False(t, same.failed, "equal bytes pass")
	differs := &recorder{TB: t}
	testkit.Golden(differs, "x.golden", []byte("wanted"))
	require.True(t, differs.failed, "different bytes fail")
	missing := &recorder{TB: t}
	testkit.Golden(missing, "absent.golden", []byte("x"))
	require.True(t, missing.failed, "a missing golden file fails")
}

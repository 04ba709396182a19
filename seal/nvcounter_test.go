package seal_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// counterContract runs the rollback counter's contract on a TPM with no
// counter yet and returns its last value.
func counterContract(t *testing.T, s *seal.TPM) uint64 {
	t.Helper()
	if _, err := s.ReadCounter(); !errors.Is(err, seal.ErrNoCounter) {
		require.Fail(t, fmt.Sprintf("ReadCounter on a TPM without the counter: %v, want ErrNoCounter", err))
	}
	if _, err := s.IncrementCounter(); !errors.Is(err, seal.ErrNoCounter) {
		require.Fail(t, fmt.Sprintf("IncrementCounter on a TPM without the counter: %v, want ErrNoCounter", err))
	}
	v0, err := s.EnsureCounter()
	require.NoError(t, err)
	if again, err := s.EnsureCounter(); err != nil || again != v0 {
		require.Fail(t, fmt.Sprintf("EnsureCounter on an existing counter = %d, %v; want %d and no increment", again, err, v0))
	}
	for i := uint64(1); i <= 3; i++ {
		v, err := s.IncrementCounter()
		require.NoError(t, err)
		require.EqualValues(t, v0+i, v, "increment %d: counter %d, want %d", i, v, v0+i)
		if r, err := s.ReadCounter(); err != nil || r != v {
			require.Fail(t, fmt.Sprintf("ReadCounter = %d, %v; want %d", r, err, v))
		}
	}
	return v0 + 3
}

// TestCounterSwtpmPersists: the counter survives a restart of swtpm (its
// NV state is on disk), which is what makes it a rollback witness.
func TestCounterSwtpmPersists(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p, s := startSwtpm(t, state)
	last := counterContract(t, s)
	s.Close()
	p.Stop()

	p, s = startSwtpm(t, state)
	defer p.Stop()
	defer s.Close()
	if v, err := s.ReadCounter(); err != nil || v != last {
		require.Fail(t, fmt.Sprintf("after a swtpm restart the counter reads %d, %v; want %d", v, err, last))
	}
	if v, err := s.IncrementCounter(); err != nil || v != last+1 {
		require.Fail(t, fmt.Sprintf("increment after restart: %d, %v; want %d", v, err, last+1))
	}

	// Deleting and re-defining the counter (anyone with the empty owner
	// authorization can) does not take it back: the TPM starts a new
	// counter at the highest value any counter has held.
	require.NoError(t, seal.UndefineCounter(s))
	if v, err := s.EnsureCounter(); err != nil || v < last+1 {
		require.Fail(t, fmt.Sprintf("re-defined counter starts at %d, %v; want at least %d", v, err, last+1))
	}
}

// TestCounterConflict: an index of another kind at CounterIndex is
// reported and left alone.
func TestCounterConflict(t *testing.T) {
	t.Parallel()
	p, s := startSwtpm(t, t.TempDir())
	defer p.Stop()
	defer s.Close()
	require.NoError(t, seal.DefineOrdinaryNV(s))
	for name, f := range map[string]func() (uint64, error){
		"EnsureCounter": s.EnsureCounter, "ReadCounter": s.ReadCounter, "IncrementCounter": s.IncrementCounter,
	} {
		if _, err := f(); !errors.Is(err, seal.ErrCounterConflict) {
			assert.Fail(t, fmt.Sprintf("%s: %v, want ErrCounterConflict", name, err))
		}
	}
}

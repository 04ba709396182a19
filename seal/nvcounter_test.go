package seal_test

import (
	"errors"
	"testing"

	"github.com/accessd/accessd/seal"
)

// counterContract runs the rollback counter's contract on a TPM with no
// counter yet and returns its last value.
func counterContract(t *testing.T, s *seal.TPM) uint64 {
	t.Helper()
	if _, err := s.ReadCounter(); !errors.Is(err, seal.ErrNoCounter) {
		t.Fatalf("ReadCounter on a TPM without the counter: %v, want ErrNoCounter", err)
	}
	if _, err := s.IncrementCounter(); !errors.Is(err, seal.ErrNoCounter) {
		t.Fatalf("IncrementCounter on a TPM without the counter: %v, want ErrNoCounter", err)
	}
	v0, err := s.EnsureCounter()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.EnsureCounter(); err != nil || again != v0 {
		t.Fatalf("EnsureCounter on an existing counter = %d, %v; want %d and no increment", again, err, v0)
	}
	for i := uint64(1); i <= 3; i++ {
		v, err := s.IncrementCounter()
		if err != nil {
			t.Fatal(err)
		}
		if v != v0+i {
			t.Fatalf("increment %d: counter %d, want %d", i, v, v0+i)
		}
		if r, err := s.ReadCounter(); err != nil || r != v {
			t.Fatalf("ReadCounter = %d, %v; want %d", r, err, v)
		}
	}
	return v0 + 3
}

// TestCounterSwtpmPersists: the counter survives a restart of swtpm (its
// NV state is on disk), which is what makes it a rollback witness.
func TestCounterSwtpmPersists(t *testing.T) {
	state := t.TempDir()
	p, s := startSwtpm(t, state)
	last := counterContract(t, s)
	s.Close()
	p.Stop()

	p, s = startSwtpm(t, state)
	defer p.Stop()
	defer s.Close()
	if v, err := s.ReadCounter(); err != nil || v != last {
		t.Fatalf("after a swtpm restart the counter reads %d, %v; want %d", v, err, last)
	}
	if v, err := s.IncrementCounter(); err != nil || v != last+1 {
		t.Fatalf("increment after restart: %d, %v; want %d", v, err, last+1)
	}

	// Deleting and re-defining the counter (anyone with the empty owner
	// authorization can) does not take it back: the TPM starts a new
	// counter at the highest value any counter has held.
	if err := seal.UndefineCounter(s); err != nil {
		t.Fatal(err)
	}
	if v, err := s.EnsureCounter(); err != nil || v < last+1 {
		t.Fatalf("re-defined counter starts at %d, %v; want at least %d", v, err, last+1)
	}
}

// TestCounterConflict: an index of another kind at CounterIndex is
// reported and left alone.
func TestCounterConflict(t *testing.T) {
	p, s := startSwtpm(t, t.TempDir())
	defer p.Stop()
	defer s.Close()
	if err := seal.DefineOrdinaryNV(s); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() (uint64, error){
		"EnsureCounter": s.EnsureCounter, "ReadCounter": s.ReadCounter, "IncrementCounter": s.IncrementCounter,
	} {
		if _, err := f(); !errors.Is(err, seal.ErrCounterConflict) {
			t.Errorf("%s: %v, want ErrCounterConflict", name, err)
		}
	}
}

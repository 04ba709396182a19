package store

import (
	"errors"
	"testing"
)

func TestTPMCounterRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, goldenRoot, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TPMCounter(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("new store: %v, want ErrNotFound", err)
	}
	want := TPMCounter{Value: 41, Next: 42}
	if err := s.SetTPMCounter(want); err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error { return tx.SetTPMCounter(TPMCounter{Value: 1}) })
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetTPMCounter in View: %v, want ErrInvalid", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, goldenRoot, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.TPMCounter(); err != nil || got != want {
		t.Fatalf("after reopen: %+v, %v; want %+v", got, err, want)
	}

	// A value changed behind the store's back is refused, never read as
	// another counter.
	stored := rawGet(t, s, metaTPMCounter)
	rawSet(t, s, metaTPMCounter, flipAt(stored, 7))
	if _, err := s.TPMCounter(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered record: %v, want ErrCorrupt", err)
	}
}

package store

import (
	"github.com/stretchr/testify/require"
	"testing"
)

func TestTPMCounterRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, goldenRoot, Options{})
	require.NoError(t, err)
	_, err = s.TPMCounter()
	require.ErrorIs(t, err, ErrNotFound, "new store: %v, want ErrNotFound", err)
	want := TPMCounter{Value: 41, Next: 42}
	require.NoError(t, s.SetTPMCounter(want))
	err = s.View(func(tx *Tx) error { return tx.SetTPMCounter(TPMCounter{Value: 1}) })
	require.ErrorIs(t, err, ErrInvalid, "SetTPMCounter in View: %v, want ErrInvalid", err)
	require.NoError(t, s.Close())

	s, err = Open(dir, goldenRoot, Options{})
	require.NoError(t, err)
	defer s.Close()
	got, err := s.TPMCounter()
	require.NoError(t, err, "after reopen")
	require.Equal(t, want, got, "after reopen: %+v; want %+v", got, want)

	// A value changed behind the store's back is refused, never read as
	// another counter.
	stored := rawGet(t, s, metaTPMCounter)
	rawSet(t, s, metaTPMCounter, flipAt(stored, 7))
	_, err = s.TPMCounter()
	require.ErrorIs(t, err, ErrCorrupt, "tampered record: %v, want ErrCorrupt", err)
}

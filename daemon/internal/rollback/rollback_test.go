package rollback

import (
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/seal/sealtest"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeCounter is an in-memory TPM counter; defined == false is a TPM
// without one.
type fakeCounter struct {
	defined bool
	v       uint64
}

func (f *fakeCounter) ReadCounter() (uint64, error) {
	if !f.defined {
		return 0, seal.ErrNoCounter
	}
	return f.v, nil
}

func (f *fakeCounter) IncrementCounter() (uint64, error) {
	if !f.defined {
		return 0, seal.ErrNoCounter
	}
	f.v++
	return f.v, nil
}

func (f *fakeCounter) EnsureCounter() (uint64, error) {
	if !f.defined {
		f.defined, f.v = true, 100 // a new counter starts where the TPM's highest was
	}
	return f.v, nil
}

// TestCheckCounterCompares: every combination of store record and TPM
// counter, and what the start does with it.
func TestCheckCounterCompares(t *testing.T) {
	t.Parallel()
	none := (*store.TPMCounter)(nil)
	rec := func(v, next uint64) *store.TPMCounter { return &store.TPMCounter{Value: v, Next: next} }
	tests := []struct {
		name    string
		record  *store.TPMCounter
		counter *fakeCounter
		want    uint64
		refused string // substring of the ErrRollback message; "" = accepted
	}{
		{"equal", rec(7, 0), &fakeCounter{true, 7}, 7, ""},
		{"crash before the increment", rec(7, 8), &fakeCounter{true, 7}, 7, ""},
		{"crash after the increment", rec(7, 8), &fakeCounter{true, 8}, 8, ""},
		{"store one behind", rec(7, 0), &fakeCounter{true, 8}, 0, "store is behind"},
		{"store behind despite an intent", rec(7, 8), &fakeCounter{true, 9}, 0, "store is behind"},
		{"store far behind", rec(1, 0), &fakeCounter{true, 500}, 0, "store is behind"},
		{"counter behind the store", rec(7, 0), &fakeCounter{true, 6}, 0, "counter is behind"},
		{"counter gone", rec(7, 0), &fakeCounter{}, 0, "has no rollback counter"},
		{"unbound store, counter in use", none, &fakeCounter{true, 3}, 0, "no rollback record"},
		{"unbound store, no counter: bound on first use", none, &fakeCounter{}, 100, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t)
			if tt.record != nil {
				require.NoError(t, st.SetTPMCounter(*tt.record))
			}
			got, err := Check(st, tt.counter, quiet)
			if tt.refused != "" {
				require.ErrorIs(t, err, ErrRollback)
				require.ErrorContains(t, err, tt.refused)
				require.ErrorContains(t, err, "accessd recover --accept-rollback")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			if tt.record == nil { // bound: recorded, and audited
				r, err := st.TPMCounter()
				require.NoError(t, err)
				require.Equal(t, store.TPMCounter{Value: 100}, r)
				p, err := st.AuditLog().Pending(0, 10)
				require.NoError(t, err)
				require.Len(t, p, 1)
				require.Equal(t, "seal.rollback_bind", p[0].Entry.Type)
			}
		})
	}
}

// swtpmCounter is a real TPM (swtpm) for the rollback tests.
func swtpmCounter(t *testing.T) *seal.TPM {
	t.Helper()
	sw := sealtest.StartSwtpm(t, t.TempDir(), 0)
	tpm, err := seal.Open(seal.Config{Device: sw.Device})
	require.NoError(t, err)
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

// copyDir copies a closed store's directory, as someone copying the data
// dir would.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy")
	out, err := exec.Command("cp", "-a", from, to).CombinedOutput()
	require.NoError(t, err, string(out))
	return to
}

// startStop runs what serve does with the counter at a start or a stop.
func startStop(t *testing.T, st *store.Store, c Counter) uint64 {
	t.Helper()
	cur, err := Check(st, c, quiet)
	require.NoError(t, err)
	v, err := Advance(st, c, cur)
	require.NoError(t, err)
	return v
}

// TestRollbackRefusedSwtpm: a copy of the store taken while the service
// ran is refused after the stop, and after any later start; accepting it
// binds it, and it then starts.
func TestRollbackRefusedSwtpm(t *testing.T) {
	t.Parallel()
	tpm := swtpmCounter(t)
	dir, key := filepath.Join(t.TempDir(), "db"), storetest.RandomRootKey(t)
	st := storetest.OpenDir(t, dir, key)
	_, err := Bind(st, tpm, store.AuditEntry{Type: "seal.rollback_bind"})
	require.NoError(t, err)
	started := startStop(t, st, tpm)

	// A copy while running (taken from the closed files: the same state).
	require.NoError(t, st.Close())
	old := copyDir(t, dir)
	st = storetest.OpenDir(t, dir, key)
	stopped := startStop(t, st, tpm)
	require.Equal(t, started+1, stopped)

	// The live store starts; the copy does not.
	startStop(t, st, tpm)
	require.NoError(t, st.Close())
	stale := storetest.OpenDir(t, old, key)
	_, err = Check(stale, tpm, quiet)
	require.ErrorIs(t, err, ErrRollback)
	require.ErrorContains(t, err, "rollback detected")
	require.ErrorContains(t, err, "store is behind")

	// Accepting it deliberately binds it, with an audit entry.
	v, err := Bind(stale, tpm, store.AuditEntry{Type: "seal.rollback_accept"})
	require.NoError(t, err)
	cur, err := Check(stale, tpm, quiet)
	require.NoError(t, err)
	require.Equal(t, v, cur)
	p, err := stale.AuditLog().Pending(0, 10)
	require.NoError(t, err)
	require.Equal(t, "seal.rollback_accept", p[len(p)-1].Entry.Type)
}

// crashAt wraps a TPM and "crashes" the process at one point of an
// increment: the increment call fails, and the test closes the store
// without another write, as a killed process would leave it.
type crashAt struct {
	*seal.TPM
	afterIncrement bool // crash once the TPM has incremented; else before
}

var errCrash = errors.New("simulated crash")

func (c crashAt) IncrementCounter() (uint64, error) {
	if c.afterIncrement {
		if _, err := c.TPM.IncrementCounter(); err != nil {
			return 0, err
		}
	}
	return 0, errCrash
}

// TestRollbackCrashWindowSwtpm: a crash between recording the intent and
// confirming the increment, on either side of the increment itself,
// leaves a store that starts; the tolerance is exactly that one
// increment, so a copy from then is still refused once the counter moves
// on.
func TestRollbackCrashWindowSwtpm(t *testing.T) {
	t.Parallel()
	for _, after := range []bool{false, true} {
		name := "before increment"
		if after {
			name = "after increment"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tpm := swtpmCounter(t)
			dir, key := filepath.Join(t.TempDir(), "db"), storetest.RandomRootKey(t)
			st := storetest.OpenDir(t, dir, key)
			_, err := Bind(st, tpm, store.AuditEntry{Type: "seal.rollback_bind"})
			require.NoError(t, err)
			startStop(t, st, tpm)

			cur, err := Check(st, tpm, quiet)
			require.NoError(t, err)
			_, err = Advance(st, crashAt{tpm, after}, cur)
			require.ErrorIs(t, err, errCrash)
			require.NoError(t, st.Close()) // the process is gone
			crashed := copyDir(t, dir)

			st = storetest.OpenDir(t, dir, key)
			rec, err := st.TPMCounter()
			require.NoError(t, err)
			require.Equal(t, store.TPMCounter{Value: cur, Next: cur + 1}, rec, "the intent is recorded before the increment")
			now, err := tpm.ReadCounter()
			require.NoError(t, err)
			if after {
				require.Equal(t, cur+1, now)
			} else {
				require.Equal(t, cur, now)
			}
			v := startStop(t, st, tpm) // the next start is accepted
			require.Equal(t, now+1, v)
			startStop(t, st, tpm) // and its stop

			// The data dir as the crash left it is now behind.
			stale := storetest.OpenDir(t, crashed, key)
			_, err = Check(stale, tpm, quiet)
			require.ErrorIs(t, err, ErrRollback)
		})
	}
}

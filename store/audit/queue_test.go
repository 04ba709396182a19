package audit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
)

// TestFloorWaitsForWritesInFlight: the floor under which the writer
// stops reading pending entries never passes an entry of a write that
// has not ended, even when a later write committed first; a read from
// the floor then finds the late entry.
func TestFloorWaitsForWritesInFlight(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	q := storetest.Queue(t, st)
	stage := func(typ string) error {
		return st.Update(func(tx *store.Tx) error { return tx.Audit().Stage(store.AuditEntry{Type: typ}) })
	}
	require.NoError(t, stage("first"))
	staged, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	go func() {
		done <- st.Update(func(tx *store.Tx) error {
			if err := tx.Audit().Stage(store.AuditEntry{Type: "slow"}); err != nil {
				return err
			}
			select {
			case <-staged: // a retry: already told
			default:
				close(staged)
			}
			<-release
			return nil
		})
	}()
	<-staged
	held := q.Floor() // at most the slow write's entry
	require.NoError(t, stage("fast"))
	during := q.Floor()
	require.Equal(t, held, during, "floor moved past a write still in flight")
	let()
	require.NoError(t, <-done)
	after := q.Floor()
	require.Greater(t, after, during, "floor stayed after every write ended")
	p, err := st.AuditLog().Pending(during, 0)
	require.NoError(t, err)
	var types []string
	for _, e := range p {
		types = append(types, e.Entry.Type)
	}
	require.Equal(t, []string{"slow", "fast"}, types, "pending from the floor held during the slow write")
	p, err = st.AuditLog().Pending(after, 0)
	require.NoError(t, err)
	require.Empty(t, p, "pending from the floor after every write")
}

// TestFloorStartsAtTheClock: a store opened afresh reads pending
// entries from the wall clock on, not from the start of the queue, whose
// chained entries' deleted keys it would walk; an entry staged after
// that, even with the clock stepped back, still lands above the floor.
func TestFloorStartsAtTheClock(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	q := storetest.Queue(t, st)
	before := uint64(time.Now().UnixNano())
	f := q.Floor()
	require.GreaterOrEqual(t, f, before, "floor below the wall clock at the call")
	require.NoError(t, st.Update(func(tx *store.Tx) error { return tx.Audit().Stage(store.AuditEntry{Type: "late"}) }))
	p, err := st.AuditLog().Pending(f, 0)
	require.NoError(t, err)
	require.Len(t, p, 1, "pending from the floor: the one staged after it")
}

// TestOpenNeedsTheQueue: the writer is not started without the queue
// its store stages by, which alone wakes it and tells it where to read.
func TestOpenNeedsTheQueue(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	_, err := audit.Open(st, nil, audit.Options{})
	require.ErrorContains(t, err, "no queue")
}

package store_test

import (
	"github.com/stretchr/testify/require"
	"sync"
	"testing"
	"time"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/storetest"
)

// TestPendingFloorWaitsForWritesInFlight: the floor under which the
// audit writer stops reading pending entries never passes an entry of a
// write that has not ended, even when a later write committed first; a
// read from the floor then finds the late entry.
func TestPendingFloorWaitsForWritesInFlight(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
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
	held := st.AuditLog().PendingFloor() // at most the slow write's entry
	require.NoError(t, stage("fast"))
	during := st.AuditLog().PendingFloor()
	if during != held {
		t.Fatalf("floor moved from %d to %d past a write still in flight", held, during)
	}
	let()
	require.NoError(t, <-done)
	after := st.AuditLog().PendingFloor()
	if after <= during {
		t.Fatalf("floor stayed at %d after every write ended", after)
	}
	p, err := st.AuditLog().Pending(during, 0)
	require.NoError(t, err)
	var types []string
	for _, e := range p {
		types = append(types, e.Entry.Type)
	}
	if len(types) != 2 || types[0] != "slow" || types[1] != "fast" {
		t.Fatalf("pending from the floor held during the slow write = %v, want [slow fast]", types)
	}
	if p, err := st.AuditLog().Pending(after, 0); err != nil || len(p) != 0 {
		t.Fatalf("pending from the floor after every write = %d entries (%v), want none", len(p), err)
	}
}

// TestPendingFloorStartsAtTheClock: a store opened afresh reads pending
// entries from the wall clock on, not from the start of the queue, whose
// chained entries' deleted keys it would walk; an entry staged after
// that, even with the clock stepped back, still lands above the floor.
func TestPendingFloorStartsAtTheClock(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	before := uint64(time.Now().UnixNano())
	f := st.AuditLog().PendingFloor()
	if f < before {
		t.Fatalf("floor %d is below the wall clock %d at the call", f, before)
	}
	require.NoError(t, st.Update(func(tx *store.Tx) error { return tx.Audit().Stage(store.AuditEntry{Type: "late"}) }))
	if p, err := st.AuditLog().Pending(f, 0); err != nil || len(p) != 1 {
		t.Fatalf("pending from the floor = %d entries (%v), want the one staged after it", len(p), err)
	}
}

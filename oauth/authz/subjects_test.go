package authz

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSubjectTable checks the hash table against a Go map through random
// puts and deletes, with keys that share prefixes (as time-ordered UUIDs
// do), across growth, shrinking and wrap-around.
func TestSubjectTable(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			subjectTableRun(t, seed)
		})
	}
}

// subjectTableRun is one random run of TestSubjectTable. Its 50,000
// steps compare plain values and call require only on a difference, so
// the run costs the table's work, not the assertions'.
func subjectTableRun(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed))
	var tab subjectTable
	ref := map[[16]byte]uint32{}
	key := func() [16]byte {
		var k [16]byte
		k[0] = byte(r.IntN(4))
		k[15] = byte(r.IntN(256))
		k[14] = byte(r.IntN(8))
		return k
	}
	for i := range 50_000 {
		k := key()
		switch r.IntN(3) {
		case 0, 1:
			v := uint32(1 + r.IntN(100))
			if prev := tab.put(&k, v); prev != ref[k] {
				require.Failf(t, "put returned another previous value", "step %d: %d, the map had %d", i, prev, ref[k])
			}
			ref[k] = v
		case 2:
			if prev := tab.del(&k); prev != ref[k] {
				require.Failf(t, "del returned another previous value", "step %d: %d, the map had %d", i, prev, ref[k])
			}
			delete(ref, k)
		}
		if i%997 == 0 {
			require.Equal(t, len(ref), tab.len())
			for k, v := range ref {
				if got := tab.get(&k); got != v {
					require.Failf(t, "get differs from the map", "step %d, key %x: %d, the map has %d", i, k, got, v)
				}
			}
		}
	}
	for k := range ref {
		require.NotZero(t, tab.del(&k))
	}
	require.Zero(t, tab.len())
	k := key()
	require.Zero(t, tab.get(&k))
	require.LessOrEqual(t, len(tab.slots), 2*minSlots, "shrinks when emptied")
}

func TestGrow(t *testing.T) {
	t.Parallel()
	x := New()
	x.Grow(1000)
	n := len(x.subjects.slots)
	for i := range 1000 {
		x.SetSubject(uuidN(i), []string{"g"})
	}
	require.Equal(t, n, len(x.subjects.slots), "no rehash after Grow")
	subjects, _ := x.Len()
	require.Equal(t, 1000, subjects)
}

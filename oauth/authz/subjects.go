package authz

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// subjectTable maps a 16-byte subject UUID to a set id (never 0). It is
// an open-addressing hash table with linear probing, one 20-byte slot per
// entry and no other metadata (set id 0 marks an empty slot), grown by a
// quarter when it is 80% full: at a million subjects it holds 25–32 bytes
// per subject where a Go map, whose tables double and split together,
// holds about 50. Deletion shifts entries back rather than leaving
// tombstones, so lookups never slow down with churn.
//
// The hash is seeded per table, so IDs that are not random (time-ordered
// UUIDv7, sequential test IDs) still spread.
type subjectTable struct {
	slots  []subjectSlot
	n      int // entries
	s0, s1 uint64
}

type subjectSlot struct {
	key [16]byte
	set uint32
}

const (
	minSlots  = 64
	maxLoad   = 0.80
	growRatio = 1.25
)

func (t *subjectTable) hash(k *[16]byte) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(k[:8])^t.s0, binary.LittleEndian.Uint64(k[8:])^t.s1)
	return hi ^ lo
}

// home is k's first slot: the hash scaled to the table's length, which
// need not be a power of two.
func (t *subjectTable) home(k *[16]byte) int {
	hi, _ := bits.Mul64(t.hash(k), uint64(len(t.slots)))
	return int(hi)
}

// get returns k's set id, or 0.
func (t *subjectTable) get(k *[16]byte) uint32 {
	if len(t.slots) == 0 {
		return 0
	}
	for i := t.home(k); ; {
		s := &t.slots[i]
		if s.set == 0 {
			return 0
		}
		if s.key == *k {
			return s.set
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// put sets k's set id (set != 0) and returns the previous one, or 0.
func (t *subjectTable) put(k *[16]byte, set uint32) uint32 {
	if float64(t.n+1) > maxLoad*float64(len(t.slots)) {
		t.resize(max(minSlots, int(float64(len(t.slots))*growRatio)))
	}
	for i := t.home(k); ; {
		s := &t.slots[i]
		if s.set == 0 {
			*s = subjectSlot{*k, set}
			t.n++
			return 0
		}
		if s.key == *k {
			old := s.set
			s.set = set
			return old
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// del removes k and returns its set id, or 0 when it was absent.
func (t *subjectTable) del(k *[16]byte) uint32 {
	if len(t.slots) == 0 {
		return 0
	}
	i := t.home(k)
	for {
		s := &t.slots[i]
		if s.set == 0 {
			return 0
		}
		if s.key == *k {
			break
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	old := t.slots[i].set
	// Shift later entries of the run back into the hole when their home
	// is not cyclically inside (hole, j].
	for j := i; ; {
		if j++; j == len(t.slots) {
			j = 0
		}
		s := &t.slots[j]
		if s.set == 0 {
			break
		}
		h := t.home(&s.key)
		if (i < j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
			t.slots[i] = *s
			i = j
		}
	}
	t.slots[i] = subjectSlot{}
	t.n--
	if len(t.slots) > minSlots && float64(t.n) < 0.25*float64(len(t.slots)) {
		t.resize(max(minSlots, int(float64(t.n)/(maxLoad*0.75))))
	}
	return old
}

// resize rehashes into size slots, with a fresh seed.
func (t *subjectTable) resize(size int) {
	old := t.slots
	t.slots = make([]subjectSlot, size)
	t.s0, t.s1 = rand.Uint64(), rand.Uint64()
	t.n = 0
	for i := range old {
		if old[i].set != 0 {
			t.put(&old[i].key, old[i].set)
		}
	}
}

// len reports how many subjects the table holds.
func (t *subjectTable) len() int { return t.n }

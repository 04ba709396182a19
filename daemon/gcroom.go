package daemon

import (
	"context"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// gcRoom keeps the garbage collector from running every few logins.
//
// Every argon2id verification allocates its whole memory cost (19 MiB by
// default) and drops it a moment later. The collector runs whenever the
// heap has grown by GOGC percent of what was live after the last run; on
// a small heap (a few tens of MiB, the usual case) that is every three or
// four verifications, and each run scans the stacks of every connection
// waiting to sign in. Under the password-grant bench that was 7% of the
// daemon's CPU (GODEBUG=gctrace=1).
//
// So the collector is given room while passwords are being hashed (one
// started within gcRoomWhile): GOGC is raised until the heap may grow by
// at least room between runs (gcRoomHashes rounds of the hasher's slots),
// never above maxGCPercent, and is left at the default once the live heap
// is room or more, and when no password was hashed lately (the token
// paths allocate little, and under mlockall the heap's high-water mark
// stays resident). A GOGC set in the environment is left alone. The process's memory
// stays bounded by live + max(live, room): a heap that grows with the
// dataset gets the default behaviour.
const (
	gcRoomHashes     = 4
	gcRoomWhile      = 30 * time.Second
	maxGCPercent     = 400
	defaultGCPercent = 100
)

// gcPercentFor is the GOGC that gives live bytes room bytes of growth,
// between defaultGCPercent and maxGCPercent.
func gcPercentFor(live, room uint64) int {
	if live == 0 || room <= live {
		return defaultGCPercent
	}
	p := (room*100 + live - 1) / live
	return int(min(max(p, defaultGCPercent), maxGCPercent))
}

// liveHeap is the heap the last collection found live.
func liveHeap() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// keepGCRoom sets GOGC for room() now and again after every collection,
// from the heap that collection found live (so a heap that grows under
// load does not keep the room of the idle one), until ctx ends; then it
// puts back the GOGC it found.
func keepGCRoom(ctx context.Context, room func() uint64) {
	k := &gcKeeper{room: room}
	k.mu.Lock()
	k.prev = debug.SetGCPercent(gcPercentFor(liveHeap(), room()))
	k.mu.Unlock()
	k.afterNextGC()
	<-ctx.Done()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	debug.SetGCPercent(k.prev)
}

// gcKeeper is keepGCRoom's state. mu orders a cleanup's SetGCPercent
// against the stop, so that a cleanup running as serve stops cannot set
// GOGC after the old value was put back.
type gcKeeper struct {
	room    func() uint64
	mu      sync.Mutex
	stopped bool
	prev    int
}

// gcMark is collected by the next collection, which runs its cleanup.
type gcMark struct{ _ [64]byte }

// afterNextGC sets GOGC once the next collection has run, and arms
// itself again, until stopped.
func (k *gcKeeper) afterNextGC() {
	runtime.AddCleanup(new(gcMark), func(k *gcKeeper) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.stopped {
			return
		}
		debug.SetGCPercent(gcPercentFor(liveHeap(), k.room()))
		k.afterNextGC()
	}, k)
}

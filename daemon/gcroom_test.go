package daemon

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, room uint64
		want       int
	}{
		{0, 152 * mib, defaultGCPercent},         // nothing collected yet
		{38 * mib, 152 * mib, maxGCPercent},      // a small heap: room, within the cap
		{60 * mib, 152 * mib, 254},               // goal 60 + 152 MiB
		{100 * mib, 152 * mib, 152},              // goal 100 + 152 MiB
		{152 * mib, 152 * mib, defaultGCPercent}, // the heap is the room: the default
		{2048 * mib, 152 * mib, defaultGCPercent},
		{10 * mib, 152 * mib, maxGCPercent}, // capped: at most 5× the live heap
	} {
		if got := gcPercentFor(c.live, c.room); got != c.want {
			assert.Fail(t, fmt.Sprintf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", c.live/mib, c.room/mib, got, c.want))
		}
	}
}

// TestKeepGCRoomFollowsTheLiveHeap: after each collection GOGC is set
// from the heap it found live, so a heap that grows gets less room in
// percent, and the default comes back when serve stops.
func TestKeepGCRoomFollowsTheLiveHeap(t *testing.T) {
	gogc := func() int { p := debug.SetGCPercent(defaultGCPercent); debug.SetGCPercent(p); return p }
	const room = 256 << 20
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { keepGCRoom(ctx, func() uint64 { return room }); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	settles := func(what string) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			want, got := gcPercentFor(liveHeap(), room), gogc()
			if got == want {
				return got
			}
			require.False(t, time.Now().After(deadline), "%s: GOGC is %d, want %d for a live heap of %d bytes", what, got, want, liveHeap())
			time.Sleep(10 * time.Millisecond)
		}
	}
	small := settles("small heap")
	ballast := make([]byte, 200<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	big := settles("200 MiB more live")
	runtime.KeepAlive(ballast)
	require.False(t, big >= small, "GOGC %d with 200 MiB more live, %d without: the room did not follow the heap", big, small)
	ballast = nil
	if again := settles("the 200 MiB dropped"); again <= big {
		require.Fail(t, fmt.Sprintf("GOGC %d once the 200 MiB were dropped, %d while they were live: the room did not follow the heap", again, big))
	}
	cancel()
	<-done
	if p := gogc(); p != defaultGCPercent {
		require.Fail(t, fmt.Sprintf("GOGC after serve stopped = %d, want %d", p, defaultGCPercent))
	}
}

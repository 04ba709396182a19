package token

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLimiterKeysBounded: hostile keys (a 100 KiB "username") are kept
// as a bounded digest, so unauthenticated callers cannot make the
// limiter hold their bytes.
func TestLimiterKeysBounded(t *testing.T) {
	t.Parallel()
	k := newKeyed(1000, time.Now)
	for i := range 500 {
		_ = k.take(strings.Repeat("A", 100<<10) + string(rune('a'+i%26)) + strings.Repeat("B", i))
	}
	held := 0
	for i := range k.shards {
		for key := range k.shards[i].m {
			held += len(key)
			require.LessOrEqual(t, len(key), maxKeyLen+8, "a key held whole")
		}
	}
	require.LessOrEqual(t, held, 500*(maxKeyLen+8), "bytes of keys held")
}

// TestLimiterFullAdmitsNewKeys: a flood of distinct keys, each with a
// bucket in use, fills the limiter; a new key is still admitted (the
// least recently used are forgotten), instead of every new caller being
// refused, and the memory stays bounded. A key in use keeps its limit.
func TestLimiterFullAdmitsNewKeys(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	k := newKeyed(10, func() time.Time { return at })
	for range 10 {
		require.NoError(t, k.take("busy"))
	}
	for i := range len(k.shards)*keyedCap + 1000 {
		_ = k.take(fmt.Sprintf("flood-%d", i))
	}
	for i := range 100 {
		require.NoError(t, k.take(fmt.Sprintf("newcomer-%d", i)), "a new key is admitted when the limiter is full")
	}
	held := 0
	for i := range k.shards {
		held += len(k.shards[i].m)
	}
	require.LessOrEqual(t, held, len(k.shards)*keyedCap)
	k2 := newKeyed(10, func() time.Time { return at })
	for range 10 {
		require.NoError(t, k2.take("busy"))
	}
	require.Error(t, k2.take("busy"), "a bucket in use keeps its limit")
}

// TestLimiterCountsIPv6By64: an IPv6 client cannot multiply its budget
// by walking its /64.
func TestLimiterCountsIPv6By64(t *testing.T) {
	t.Parallel()
	l := newLimits(DefaultConfig(), time.Now)
	for i := range 30 {
		l.clientAuthFailed("some-client-"+fmt.Sprint(i), fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	require.Error(t, l.failedAddr.check("2001:db8:1:2:ffff::1"), "the /64 spent its 30 failures")
	require.NoError(t, l.failedAddr.check("2001:db8:1:3::1"))
}

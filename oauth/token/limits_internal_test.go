package token

import (
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

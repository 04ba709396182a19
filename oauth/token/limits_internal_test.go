package token

import (
	"strings"
	"testing"
	"time"
)

// TestLimiterKeysBounded: hostile keys (a 100 KiB "username") are kept
// as a bounded digest, so unauthenticated callers cannot make the
// limiter hold their bytes.
func TestLimiterKeysBounded(t *testing.T) {
	k := newKeyed(1000, time.Now)
	for i := range 500 {
		_ = k.take(strings.Repeat("A", 100<<10) + string(rune('a'+i%26)) + strings.Repeat("B", i))
	}
	held := 0
	for i := range k.shards {
		for key := range k.shards[i].m {
			held += len(key)
			if len(key) > maxKeyLen+8 {
				t.Fatalf("a key of %d bytes is held", len(key))
			}
		}
	}
	if held > 500*(maxKeyLen+8) {
		t.Fatalf("%d bytes of keys held", held)
	}
}

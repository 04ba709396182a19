package change

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

// entries is an in-memory Recorder.
type entries struct {
	mu sync.Mutex
	n  int
}

func (r *entries) Record(context.Context, store.AuditEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return nil
}

// TestRepeatsMemoryBounded: a flood of distinct subjects and keys with
// long names leaves at most repeatsMaxSubjects subjects of at most
// repeatsMaxKeys kinds, every string cut to repeatsMaxLen.
func TestRepeatsMemoryBounded(t *testing.T) {
	t.Parallel()
	rec := &entries{}
	s := NewRepeats(rec, nil, nil)
	long := strings.Repeat("x", 4096)
	for i := range 20000 {
		subject := fmt.Sprintf("%d%s", i%1000, long)
		e := store.AuditEntry{Type: "authz.deny", Actor: "app:c", Target: long, Result: "denied",
			Source: fmt.Sprintf("%s%d", long, i)}
		s.Refuse(context.Background(), subject, map[string]string{"resource": fmt.Sprintf("%d%s", i, long)}, e)
	}
	s.mu.Lock()
	require.LessOrEqual(t, len(s.subjects), repeatsMaxSubjects)
	for sk, sub := range s.subjects {
		require.LessOrEqual(t, len(sk.subject), repeatsMaxLen+len("…"))
		require.LessOrEqual(t, len(sub.kinds), repeatsMaxKeys)
		for k, kd := range sub.kinds {
			require.LessOrEqual(t, len(k), 2*(repeatsMaxLen+len("…")))
			require.LessOrEqual(t, len(kd.tally.sources), repeatsMaxSources)
			require.LessOrEqual(t, len(kd.tally.target), repeatsMaxLen+len("…"))
		}
		require.LessOrEqual(t, len(sub.overflow.sources), repeatsMaxSources)
	}
	s.mu.Unlock()
	require.Equal(t, repeatsMaxFull, rec.n, "the in-full budget of the minute")
	s.Flush(context.Background())
	require.LessOrEqual(t, rec.n, repeatsMaxFull+repeatsMaxSubjects*(repeatsMaxKeys+1)+1)
}

// FuzzRepeatsBounded: a value is cut to at most repeatsMaxLen bytes plus
// the mark, as a prefix of itself, never inside a rune.
func FuzzRepeatsBounded(f *testing.F) {
	for _, s := range []string{"", "admin", strings.Repeat("é", 100), strings.Repeat("a", 127) + "é", strings.Repeat("\xff", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := bounded(s)
		if len(s) <= repeatsMaxLen {
			require.Equal(t, s, b)
			return
		}
		cut := strings.TrimSuffix(b, "…")
		require.True(t, strings.HasPrefix(s, cut))
		require.LessOrEqual(t, len(cut), repeatsMaxLen)
		if utf8.ValidString(s) {
			require.True(t, utf8.ValidString(b))
		}
	})
}

package seal_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// subsets calls fn with every k-element subset of 0..n-1.
func subsets(n, k int, fn func([]int)) {
	for mask := 0; mask < 1<<n; mask++ {
		if bits.OnesCount(uint(mask)) != k {
			continue
		}
		var s []int
		for i := range n {
			if mask&(1<<i) != 0 {
				s = append(s, i)
			}
		}
		fn(s)
	}
}

func pick(shares []seal.RecoveryShare, idx []int) []seal.RecoveryShare {
	out := make([]seal.RecoveryShare, len(idx))
	for i, j := range idx {
		out[i] = shares[j]
	}
	return out
}

// Any M of N shares rebuild the key, in any order; any M-1 do not (they
// are refused, and interpolating them anyway gives another key).
func TestSharesAnyMofN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, m int }{{2, 2}, {3, 2}, {5, 3}, {6, 4}, {7, 7}} {
		t.Run(fmt.Sprintf("%d-of-%d", c.m, c.n), func(t *testing.T) {
			rk, err := seal.NewRecoveryKey(nil)
			require.NoError(t, err)
			shares, err := seal.SplitRecoveryKey(rk, c.n, c.m, nil)
			require.NoError(t, err)
			// Through their printed form, as operators hand them over.
			parsed := make([]seal.RecoveryShare, len(shares))
			for i, s := range shares {
				text := s.Reveal()
				require.False(t, !strings.HasPrefix(text, "ACCESSD-SHARE-") || !seal.IsRecoveryShareText(text) || seal.IsRecoveryShareText(rk.Reveal()), "share text %d not recognised", i)
				if parsed[i], err = seal.ParseRecoveryShare(strings.ToLower(text) + "\n"); err != nil {
					require.Fail(t, fmt.Sprint(err))
				}
				require.False(t, parsed[i].Index() != i+1 || parsed[i].Threshold() != c.m, "share %d: index %d threshold %d", i, parsed[i].Index(), parsed[i].Threshold())
			}
			subsets(c.n, c.m, func(idx []int) {
				// reversed order too
				for _, order := range [][]int{idx, reversed(idx)} {
					got, err := seal.CombineRecoveryShares(pick(parsed, order))
					require.NoError(t, err, "shares %v: %v", order, err)
					require.True(t, got.Equal(rk), "shares %v rebuilt another key", order)
				}
			})
			subsets(c.n, c.m-1, func(idx []int) {
				_, err := seal.CombineRecoveryShares(pick(parsed, idx))
				require.False(t, !errors.Is(err, seal.ErrShares) || !strings.Contains(err.Error(), fmt.Sprintf("needs %d", c.m)), "shares %v: err = %v, want ErrShares naming %d", idx, err, c.m)
			})
		})
	}
}

// M-1 shares say nothing: relabelled as a split of threshold M-1 (what an
// attacker holding them could try), they interpolate to a different key.
func TestSharesBelowThresholdGiveAnotherKey(t *testing.T) {
	t.Parallel()
	rk, _ := seal.NewRecoveryKey(nil)
	shares, err := seal.SplitRecoveryKey(rk, 5, 3, nil)
	require.NoError(t, err)
	for _, idx := range [][]int{{0, 1}, {1, 4}, {2, 3}} {
		two := pick(shares, idx)
		forged := make([]seal.RecoveryShare, 2)
		for i, s := range two {
			forged[i] = seal.RelabelShare(s, 2)
		}
		got, err := seal.CombineRecoveryShares(forged)
		require.NoError(t, err)
		require.False(t, got.Equal(rk), "shares %v below the threshold rebuilt the key", idx)
	}
}

func reversed(s []int) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestSharesRefused(t *testing.T) {
	t.Parallel()
	rk, _ := seal.NewRecoveryKey(nil)
	a, _ := seal.SplitRecoveryKey(rk, 3, 2, nil)
	b, _ := seal.SplitRecoveryKey(rk, 3, 2, nil)
	if _, err := seal.CombineRecoveryShares([]seal.RecoveryShare{a[0], b[1]}); !errors.Is(err, seal.ErrShares) || !strings.Contains(err.Error(), "different splits") {
		require.Fail(t, fmt.Sprintf("mixed splits: %v", err))
	}
	if _, err := seal.CombineRecoveryShares([]seal.RecoveryShare{a[0], a[0]}); !errors.Is(err, seal.ErrShares) || !strings.Contains(err.Error(), "twice") {
		require.Fail(t, fmt.Sprintf("repeated share: %v", err))
	}
	for _, bad := range []struct{ n, m int }{{1, 1}, {3, 1}, {2, 3}, {256, 2}} {
		if _, err := seal.SplitRecoveryKey(rk, bad.n, bad.m, nil); !errors.Is(err, seal.ErrShares) {
			require.Fail(t, fmt.Sprintf("split %d of %d: %v", bad.m, bad.n, err))
		}
	}
	text := a[0].Reveal()
	for i := len("ACCESSD-SHARE-"); i < len(text); i++ {
		if text[i] == '-' {
			continue
		}
		typo := []byte(text)
		if typo[i] == 'A' {
			typo[i] = 'B'
		} else {
			typo[i] = 'A'
		}
		s, err := seal.ParseRecoveryShare(typo)
		require.Error(t, err, "typo at %d accepted", i)
		_ = s
		require.False(t, !errors.Is(err, seal.ErrShareFormat) || strings.Contains(err.Error(), string(typo)), "typo at %d: %v", i, err)
	}
	if got := fmt.Sprintf("%v %s %#v", a[0], a[0], a[0]); strings.Contains(got, text[15:25]) || !strings.Contains(got, "redacted") {
		require.Fail(t, fmt.Sprintf("share formats as %q", got))
	}
}

func FuzzParseRecoveryShare(f *testing.F) {
	rk, _ := seal.NewRecoveryKey(nil)
	shares, _ := seal.SplitRecoveryKey(rk, 3, 2, rand.Reader)
	for _, s := range shares {
		f.Add([]byte(s.Reveal()))
	}
	f.Add([]byte("ACCESSD-SHARE-"))
	f.Add(bytes.Repeat([]byte("A"), 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := seal.ParseRecoveryShare(b)
		if err != nil {
			return
		}
		back, err := seal.ParseRecoveryShare(s.Reveal())
		require.False(t, err != nil || back.Index() != s.Index() || back.Threshold() != s.Threshold() || back.Reveal() != s.Reveal(), "share does not round-trip: %v", err)
	})
}

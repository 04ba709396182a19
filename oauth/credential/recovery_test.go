package credential

import (
	"crypto/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	p := newTestPepper(t)
	codes, hashes, err := NewRecoveryCodes(rand.Reader, RecoveryCodeCount, p)
	require.NoError(t, err)
	require.Len(t, codes, 10)
	require.Len(t, hashes, 10)
	format := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)
	seen := map[string]bool{}
	for i, c := range codes {
		require.Regexp(t, format, c)
		require.False(t, seen[c])
		seen[c] = true
		for _, h := range hashes {
			require.NotContains(t, string(h), c)
		}
		got, ok := MatchRecoveryCode(c, hashes, p)
		require.True(t, ok, c)
		require.Equal(t, i, got)
	}

	c := codes[3]
	flat := strings.ReplaceAll(c, "-", "")
	for _, typed := range []string{
		strings.ToUpper(c), flat, " " + flat[:3] + " " + flat[3:] + " ", flat[:2] + "-" + flat[2:],
		strings.NewReplacer("0", "O", "1", "l").Replace(c), strings.NewReplacer("0", "o", "1", "I").Replace(c),
	} {
		got, ok := MatchRecoveryCode(typed, hashes, p)
		require.True(t, ok, typed)
		require.Equal(t, 3, got, typed)
	}

	// Used once: the caller deletes the matched hash.
	hashes[3] = nil
	_, ok := MatchRecoveryCode(c, hashes, p)
	require.False(t, ok)

	for _, typed := range []string{"", c[:10], c + "x", flat + "0", "uuuuu-uuuuu", "abcde-fghi!", strings.Repeat("-", 100) + flat, "\u0430" + flat[1:]} {
		got, ok := MatchRecoveryCode(typed, hashes, p)
		require.False(t, ok, typed)
		require.Equal(t, -1, got)
	}
	_, ok = MatchRecoveryCode(codes[0], hashes, newTestPepper(t))
	require.False(t, ok, "another key matches nothing")

	_, _, err = NewRecoveryCodes(rand.Reader, 0, p)
	require.Error(t, err)
	_, _, err = NewRecoveryCodes(strings.NewReader("short"), 10, p)
	require.Error(t, err)
}

// TestRecoveryCodeEntropy checks that every symbol position uses the whole
// 32-symbol alphabet, i.e. that codes carry the 50 bits they claim.
func TestRecoveryCodeEntropy(t *testing.T) {
	t.Parallel()
	codes, _, err := NewRecoveryCodes(rand.Reader, 100, newTestPepper(t))
	require.NoError(t, err)
	more, _, err := NewRecoveryCodes(rand.Reader, 100, newTestPepper(t))
	require.NoError(t, err)
	codes = append(codes, more...)
	for pos := range 11 {
		if pos == 5 {
			continue
		}
		symbols := map[byte]bool{}
		for _, c := range codes {
			symbols[c[pos]] = true
		}
		require.GreaterOrEqual(t, len(symbols), 28, "position %d uses %d symbols", pos, len(symbols))
	}
}

func FuzzMatchRecoveryCode(f *testing.F) {
	p := newTestPepper(f)
	codes, hashes, err := NewRecoveryCodes(rand.Reader, 2, p)
	require.NoError(f, err)
	for _, s := range []string{codes[0], strings.ToUpper(codes[1]), "", "-----", "ooooo-iiiii", "uuuuu-uuuuu", "a b c d e f g h j k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		i, ok := MatchRecoveryCode(typed, hashes, p)
		canon, err := normaliseRecoveryCode(typed)
		if err != nil {
			require.False(t, ok)
			return
		}
		require.Len(t, canon, 10)
		want := -1
		for j, c := range codes {
			if strings.ReplaceAll(c, "-", "") == string(canon) {
				want = j
			}
		}
		require.Equal(t, want, i)
		require.Equal(t, want >= 0, ok)
	})
}

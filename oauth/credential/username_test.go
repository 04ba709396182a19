package credential

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

func TestCanonicalUsername(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want, why string // why: substring of the error; "" = accepted
	}{
		{"lower", "maria.silva", "maria.silva", ""},
		{"case folded", "Maria.Silva", "maria.silva", ""},
		{"email form", "Maria+ops@Example.COM", "maria+ops@example.com", ""},
		{"full width", "ＡＤＭＩＮ", "admin", ""},
		{"kelvin sign", "\u212Aate", "kate", ""},
		{"digits first", "007_bond-x", "007_bond-x", ""},
		{"one character", "a", "a", ""},
		{"64 characters", strings.Repeat("a", 64), strings.Repeat("a", 64), ""},
		{"65 characters", strings.Repeat("a", 65), "", "at most 64"},
		{"huge", strings.Repeat("a", 1<<16), "", "at most 64"},
		{"empty", "", "", "must not be empty"},
		{"space", "maria silva", "", "no spaces"},
		{"leading dot", ".maria", "", "start with a letter"},
		{"leading dash", "-maria", "", "start with a letter"},
		{"slash", "owner/maria", "", "may contain only"},
		{"cyrillic a", "\u0430dmin", "", "start with a letter"},
		{"cyrillic a inside", "m\u0430ria", "", "may contain only"},
		{"accented", "josé", "", "may contain only"},
		{"control", "maria\x00", "", "may contain only"},
		{"invalid UTF-8", "maria\xff", "", "may contain only"},
		{"quote", "ma'ria", "", "may contain only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalUsername(tc.in)
			if tc.why == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			require.ErrorIs(t, err, api.ErrInvalidField)
			require.Contains(t, err.Error(), tc.why)
			if len(tc.in) > 2 {
				require.NotContains(t, err.Error(), tc.in, "the error must not echo the input")
			}
		})
	}
}

func FuzzCanonicalUsername(f *testing.F) {
	for _, s := range []string{"maria.silva", "Maria+ops@Example.COM", "ＡＤＭＩＮ", "\u212Aate", ".x", "a b", "\u0430dmin", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalUsername(s)
		if err != nil {
			require.ErrorIs(t, err, api.ErrInvalidField)
			return
		}
		require.NotEmpty(t, c)
		require.LessOrEqual(t, len(c), MaxUsernameLength)
		for i := 0; i < len(c); i++ {
			require.True(t, strings.IndexByte("abcdefghijklmnopqrstuvwxyz0123456789._@+-", c[i]) >= 0, "%q", c)
		}
		again, err := CanonicalUsername(c)
		require.NoError(t, err, "a canonical username must be accepted")
		require.Equal(t, c, again, "canonicalisation must be idempotent")
		upper, err := CanonicalUsername(strings.ToUpper(c))
		require.NoError(t, err)
		require.Equal(t, c, upper, "case must not matter")
	})
}

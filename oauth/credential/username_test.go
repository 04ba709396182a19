package credential

import (
	"crypto/rand"
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
		if err := CheckNewUsername(c); err != nil {
			require.ErrorIs(t, err, api.ErrInvalidField)
			require.True(t, IDShaped(c) || ClientIDShaped(c), "%q refused without a look-alike form", c)
		} else {
			require.False(t, IDShaped(c) || ClientIDShaped(c), "%q has a look-alike form", c)
		}
	})
}

// TestCheckNewUsername: a new user may not be named like a record ID or
// a minted client ID (a look-alike an editor could plant for an admin to
// add to a group), while names that merely come close stay allowed.
func TestCheckNewUsername(t *testing.T) {
	t.Parallel()
	minted, err := NewClientID(rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, in, why string // why: substring of the error; "" = accepted
	}{
		{"record ID", "019c96a0-0c21-71f9-a487-66a1258278a1", "record ID"},
		{"version-4 ID", "3f2c9a1e-5b7d-4c2e-9f10-2a3b4c5d6e7f", "record ID"},
		{"nil UUID", "00000000-0000-0000-0000-000000000000", "record ID"},
		{"minted client ID", minted, "client ID"},
		{"hex client ID (Casdoor's)", "b6e3a7f8d9c0e1f2a3b4", "client ID"},
		{"plain name", "maria.silva", ""},
		{"UUID with a letter beyond f", "019c96a0-0c21-71f9-a487-66a1258278ag", ""},
		{"UUID without its dashes", "019c96a00c2171f9a48766a1258278a1", ""},
		{"UUID in braces' place", "019c96a0_0c21_71f9_a487_66a1258278a1", ""},
		{"19 client ID characters", minted[:19], ""},
		{"21 client ID characters", minted + "0", ""},
		{"20 characters with an i", "mariasilva0123456789", ""},
		{"20 characters with a dot", "maria.silva012345678", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CanonicalUsername(tc.in)
			require.NoError(t, err, "lookups still take every canonical name")
			err = CheckNewUsername(c)
			if tc.why == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, api.ErrInvalidField)
			require.Contains(t, err.Error(), tc.why)
			require.NotContains(t, err.Error(), c, "the error must not echo the input")
		})
	}
}

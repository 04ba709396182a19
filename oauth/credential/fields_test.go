package credential

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzPhoneNumber: an accepted number is "+" and 2 to 15 digits.
func FuzzPhoneNumber(f *testing.F) {
	for _, s := range []string{"+4915112345678", "+0", "+49 151", "+١٢٣", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckPhoneNumber(s) != nil || s == "" {
			return
		}
		ok := s[0] == '+' && len(s) >= 3 && len(s) <= 16 && strings.Trim(s[1:], "0123456789") == "" && s[1] != '0'
		require.True(t, ok, "accepted %q", s)
	})
}

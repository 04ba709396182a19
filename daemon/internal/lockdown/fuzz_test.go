package lockdown

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParseSwaps(f *testing.F) {
	f.Add([]byte(swapsHeader))
	f.Add([]byte(swapsHeader + "/dev/sda2                               partition\t8388604\t\t0\t\t-2\n"))
	f.Add([]byte(swapsHeader + "/swap\\040file\\134x file 1 0 -2\n/dev/dm-0 partition 1 0 -3\n"))
	f.Add([]byte("Filename\n\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseSwaps(b)
		if err != nil {
			return
		}
		require.True(t, strings.HasPrefix(string(b), "Filename"), "accepted input without header: %q", b)
		for _, e := range entries {
			require.False(t, e.Type == "" || strings.ContainsAny(e.Type, " \t\n"), "bad type %q", e.Type)
		}
	})
}

func FuzzParseLockdown(f *testing.F) {
	f.Add([]byte("none [integrity] confidentiality\n"))
	f.Add([]byte("[none] integrity confidentiality"))
	f.Add([]byte("[]"))
	f.Add([]byte("[[x]]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mode, err := parseLockdown(b)
		if err != nil {
			return
		}
		require.False(t, mode == "" || !strings.Contains(string(b), "["+mode+"]"), "mode %q not bracketed in %q", mode, b)
	})
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add([]byte(goodStatus))
	f.Add([]byte("Name:\tkthreadd\nCapEff:\t000001ffffffffff\n"))
	f.Add([]byte("VmLck: 1 MB\nCapEff: 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parseProcStatus(b)
		if err != nil {
			return
		}
		require.Contains(t, string(b), "CapEff", "parsed %+v without CapEff", ps)
	})
}

func FuzzParseLimits(f *testing.F) {
	f.Add([]byte(goodLimits))
	f.Add([]byte("Limit\nMax nice priority         0                    0                    \n"))
	f.Add([]byte("Limit\n5 5\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		limits, err := parseLimits(b)
		if err != nil {
			return
		}
		for name, l := range limits {
			require.False(t, name == "" || !isLimitValue(l.soft) || !isLimitValue(l.hard), "bad row %q: %+v", name, l)
			require.False(t, l.soft == "unlimited" && l.softBytes != ^uint64(0), "unlimited parsed as %d", l.softBytes)
		}
	})
}

func FuzzParseSecureBoot(f *testing.F) {
	f.Add(secureBootOn)
	f.Add([]byte{6, 0, 0, 0, 0})
	f.Add([]byte{6, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		on, err := parseSecureBoot(b)
		if err != nil {
			return
		}
		require.False(t, len(b) < 5 || on != (b[len(b)-1] == 1), "on=%v for %x", on, b)
	})
}

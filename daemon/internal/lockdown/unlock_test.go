package lockdown

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// smapsOf returns the Rss and Locked kB of the mapping of path.
func smapsOf(t *testing.T, path string) (rss, locked int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// A mapping's header; anonymous ones have no path field.
			in = len(fields) >= 6 && strings.Join(fields[5:], " ") == path
			continue
		}
		if !in || len(fields) < 2 {
			continue
		}
		n, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "Rss:":
			rss += n
		case "Locked:":
			locked += n
		}
	}
	return rss, locked
}

func TestReleaseStoreMappings(t *testing.T) {
	dir := t.TempDir()
	const size = 4 << 20
	mapFile := func(name string) []byte {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, make([]byte, size), 0o600))
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
		require.NoError(t, err)
		t.Cleanup(func() { unix.Munmap(b) })
		if err := unix.Mlock(b); err != nil {
			t.Skipf("cannot mlock here: %v", err)
		}
		return b
	}
	sst, mem := mapFile("000001.sst"), mapFile("000002.mem")
	_, _ = sst[0], mem[0]
	before, locked := smapsOf(t, filepath.Join(dir, "000001.sst"))
	require.False(t, before < size/1024/2 || locked == 0, "table mapping not resident and locked before: rss %d kB locked %d kB", before, locked)
	n, err := ReleaseStoreMappings(dir)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "released %d mappings, want the one table", n)
	// Dropped from the resident set (the kernel may map a few pages back
	// around the next fault; nothing reads here, so nearly all must go).
	if rss, locked := smapsOf(t, filepath.Join(dir, "000001.sst")); rss > before/4 || locked != 0 {
		require.Fail(t, fmt.Sprintf("table mapping still rss %d kB (was %d) locked %d kB", rss, before, locked))
	}
	if _, locked := smapsOf(t, filepath.Join(dir, "000002.mem")); locked == 0 {
		require.Fail(t, "a memtable log (written through its mapping) must be left alone")
	}
	require.EqualValues(t, 0, sst[size-1], "the released mapping must still read")
}

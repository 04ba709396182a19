package lockdown

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseStoreMappings unlocks, and drops from the process's resident
// set, the file mappings of the store's table files (*.sst under dir).
//
// Harden locks all memory with MCL_FUTURE so that keys and decrypted
// records are never swapped; that also locks every page of Badger's
// memory-mapped tables that a read touches, which at a million users is
// hundreds of MiB of locked page cache holding nothing but ciphertext.
// Those pages gain nothing from being locked: they are encrypted on disk
// already. Unlocked and dropped here, they stay in the page cache and
// fault back in cheaply when read; everything else (the heap, where keys
// and plaintext live) stays locked. New tables are locked again when
// touched, so the daemon calls this after start-up and then
// periodically. It returns how many mappings it released.
func ReleaseStoreMappings(dir string) (int, error) {
	dir = filepath.Clean(dir) + "/"
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("lockdown: read mappings: %w", err)
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := strings.Join(fields[5:], " ")
		if !strings.HasPrefix(path, dir) || !strings.HasSuffix(path, ".sst") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("lockdown: read mappings: %w", err)
	}
	n := 0
	for _, s := range spans {
		// A mapping may have gone (table deleted by compaction) since it
		// was listed: ENOMEM then, which is fine.
		// Raw syscalls: the ranges are the kernel's, not Go memory, so
		// there is no slice to hand to unix.Munlock.
		if _, _, e := unix.Syscall(unix.SYS_MUNLOCK, s.start, s.end-s.start, 0); e != 0 && e != unix.ENOMEM {
			return n, fmt.Errorf("lockdown: munlock store mapping: %w", e)
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_DONTNEED); e != 0 && e != unix.ENOMEM {
			return n, fmt.Errorf("lockdown: release store mapping: %w", e)
		}
		n++
	}
	return n, nil
}

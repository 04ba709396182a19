package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// vlogHeaderLen is the header Badger writes at the start of every
// value-log file right after creating it: the data key's ID (8 bytes,
// never zero under encryption) and a random 12-byte base IV.
const vlogHeaderLen = 20

// removeUnbornVlogs deletes value-log and memtable (write-ahead) files
// that a crash left between their creation and their header: Badger
// creates the file (and sizes it) first and writes the header next, and
// a process killed in between leaves a file that Badger then refuses to
// open ("Create a new file"), so the store would not start again after a
// plain SIGKILL. Both kinds are Badger's log files, with the same
// header. Such a file holds nothing: entries are only appended after the
// header is written, and under encryption a written header is never all
// zeros. Any other file is left alone.
func removeUnbornVlogs(dir string, log *slog.Logger) error {
	var files []string
	for _, pattern := range []string{"*.vlog", "*.mem"} {
		matched, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		files = append(files, matched...)
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("store: inspect %s: %w", p, err)
		}
		head := make([]byte, vlogHeaderLen)
		n, err := io.ReadFull(f, head)
		f.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return fmt.Errorf("store: inspect %s: %w", p, err)
		}
		if n == vlogHeaderLen && !bytes.Equal(head, make([]byte, vlogHeaderLen)) {
			continue
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("store: remove unfinished log file %s: %w", p, err)
		}
		log.Warn("removed a value-log or memtable file that a crash left before its header was written; it held no data",
			"event", "store.vlog_repaired", "file", filepath.Base(p))
	}
	return nil
}

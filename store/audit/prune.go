package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/accessd/accessd/store"
)

// PruneResult says what one Prune did.
type PruneResult struct {
	// Archived is how many entries went into the new archive; 0 when
	// none was old enough (and then no file was written).
	Archived uint64
	// Deleted is how many entries were removed from the store, those of
	// this run and any a run that stopped half-way left behind.
	Deleted uint64
	// Checkpoint is the checkpoint this run recorded, nil when none.
	Checkpoint *Checkpoint
}

// ErrArchiveBroken is wrapped by VerifyArchive's error when the archive
// does not hold what its checkpoint says (an edited, removed, reordered
// or added line, or other bytes changed).
var ErrArchiveBroken = errors.New("audit: archive does not match its checkpoint")

// archiveName is the file an archive starting at entry first is written
// to. It depends on the first entry only, so that a run that stopped
// after writing the file but before recording its checkpoint is redone
// into the same name, replacing the file instead of leaving a second
// copy of the same entries beside it.
func archiveName(first uint64) string { return fmt.Sprintf("audit-%020d.jsonl", first) }

// checkEvery is how many entries the export writes between looks at ctx.
const checkEvery = 1024

// Prune enforces retention: it exports the oldest entries, those before
// the first one whose Time is not before before, to a new archive file
// in dir, records a checkpoint naming it, then deletes them from the
// store. The head is never archived, however old, so that the chain in
// the store always ends in an entry Verify can check. Nothing old enough
// means no file and no change. Entries are archived only if they verify:
// a broken chain is kept in the store as evidence, and Prune fails.
//
// The steps are ordered so that stopping anywhere (a crash, ctx ending)
// leaves a store that Verify accepts: the archive is durable (written to
// a temporary name, fsynced, renamed, the directory fsynced) before the
// checkpoint is recorded, and the checkpoint before any entry goes; the
// next Prune finishes the deletions, and an archive no checkpoint names
// is rewritten under the same name. Prune runs beside Record and the
// chain writer: it touches only entries below the head, which the
// writer never writes again. Concurrent Prunes are serialised.
//
// The archive is JSON lines, one store.AuditEntry per line in sequence
// order, exactly as chained (seq, prevHash and hash included), so that it
// verifies on its own (VerifyArchive). Its mode is 0600; dir is created
// 0700 if missing.
func (l *Log) Prune(ctx context.Context, before time.Time, dir string) (PruneResult, error) {
	l.pruneMu.Lock()
	defer l.pruneMu.Unlock()
	var res PruneResult
	if dir == "" {
		return res, errors.New("audit: prune: no archive directory")
	}
	n, err := l.deleteArchived(ctx)
	res.Deleted += n
	if err != nil {
		return res, err
	}
	cp, ok, err := l.archive(ctx, before, dir)
	if err != nil || !ok {
		return res, err
	}
	res.Archived = cp.Entries
	if err := l.step("archived"); err != nil {
		return res, err
	}
	if err := setCheckpoint(l.st, cp); err != nil {
		return res, fmt.Errorf("audit: prune: %w (the archive %s is redone by the next run)", err, cp.Archive)
	}
	res.Checkpoint = &cp
	if err := l.step("checkpointed"); err != nil {
		return res, err
	}
	n, err = l.deleteArchived(ctx)
	res.Deleted += n
	return res, err
}

// step is a test's chance to stop Prune between its steps, as a crash
// would.
func (l *Log) step(name string) error {
	if l.pruneStep == nil {
		return nil
	}
	return l.pruneStep(name)
}

// deleteArchived removes, in batches, every entry the checkpoint covers.
func (l *Log) deleteArchived(ctx context.Context) (uint64, error) {
	var total uint64
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("audit: prune: %w (the next run finishes the deletions)", err)
		}
		n, err := deleteArchivedBatch(l.st, l.pruneBatch)
		total += uint64(n)
		if err != nil {
			return total, fmt.Errorf("audit: prune: %w", err)
		}
		if n == 0 {
			return total, nil
		}
		if err := l.step("deleted"); err != nil {
			return total, err
		}
	}
}

// archive writes the entries to prune to their archive file and returns
// the checkpoint that describes it; ok is false when there is nothing to
// prune, and then nothing was written.
func (l *Log) archive(ctx context.Context, before time.Time, dir string) (cp Checkpoint, ok bool, err error) {
	prev, err := currentCheckpoint(l.st)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return cp, false, fmt.Errorf("audit: prune: %w", err)
	}
	head, _ := l.Head()
	cp = Checkpoint{FirstSeq: prev.Seq + 1, FirstPrev: prev.Hash, Before: before,
		Archive: archiveName(prev.Seq + 1)}
	if head <= cp.FirstSeq {
		return cp, false, nil
	}
	final := filepath.Join(dir, cp.Archive)
	tmp := filepath.Join(dir, "."+cp.Archive+".tmp")
	var (
		f    *os.File
		w    *bufio.Writer
		sum  = sha256.New()
		hash = prev.Hash
	)
	defer func() {
		if f != nil { // not renamed into place
			f.Close()
			os.Remove(tmp)
		}
	}()
	err = scan(l.st, cp.FirstSeq, func(e store.AuditEntry) (bool, error) {
		if e.Seq >= head || !e.Time.Before(before) {
			return false, nil
		}
		want := cp.FirstSeq + cp.Entries
		if problem := checkLink(e, want, hash); problem != "" {
			return false, fmt.Errorf("%s; nothing was archived: run accessctl audit verify", problem)
		}
		if f == nil {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return false, err
			}
			os.Remove(tmp) // left by a run that stopped while writing
			if f, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
				return false, err
			}
			w = bufio.NewWriterSize(io.MultiWriter(f, sum), 64<<10)
		}
		line, err := json.Marshal(&e)
		if err != nil {
			return false, fmt.Errorf("encode entry %d: %w", e.Seq, err)
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return false, fmt.Errorf("write %s: %w", tmp, err)
		}
		hash = e.Hash
		cp.Seq = e.Seq
		cp.Entries++
		if cp.Entries%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return cp, false, fmt.Errorf("audit: prune: %w", err)
	}
	if cp.Entries == 0 {
		return cp, false, nil
	}
	cp.Hash = hash
	if err := w.Flush(); err != nil {
		return cp, false, fmt.Errorf("audit: prune: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return cp, false, fmt.Errorf("audit: prune: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return cp, false, fmt.Errorf("audit: prune: close %s: %w", tmp, err)
	}
	f = nil
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return cp, false, fmt.Errorf("audit: prune: %w", err)
	}
	if err := store.SyncDir(dir); err != nil {
		return cp, false, fmt.Errorf("audit: prune: sync %s: %w", dir, err)
	}
	cp.ArchiveSHA256 = sum.Sum(nil)
	cp.Time = l.now()
	return cp, true, nil
}

// checkLink says what is wrong with e as the entry numbered want that
// follows an entry with hash prev, or "" when nothing is.
func checkLink(e store.AuditEntry, want uint64, prev []byte) string {
	switch {
	case e.Seq != want:
		return fmt.Sprintf("entry %d is missing or out of order (found entry %d in its place)", want, e.Seq)
	case !bytes.Equal(e.PrevHash, prev):
		return fmt.Sprintf("entry %d does not follow entry %d: its previous-hash is %s, entry %d's hash is %s", e.Seq, e.Seq-1, short(e.PrevHash), e.Seq-1, short(prev))
	}
	h, err := Hash(e)
	if err != nil || !bytes.Equal(h, e.Hash) {
		return fmt.Sprintf("entry %d was altered: its content does not match its hash", e.Seq)
	}
	return ""
}

// maxArchiveLine bounds one line of an archive: entries are bounded
// (store.AuditEntry.Bounded) to far less.
const maxArchiveLine = 1 << 20

// VerifyArchive checks the archive file at path against the checkpoint
// that was recorded when it was written: every line an entry whose hash
// matches its content, numbered from cp.FirstSeq on, each following the
// one before it (the first following cp.FirstPrev, the checkpoint before
// it), the last being entry cp.Seq with hash cp.Hash, cp.Entries of them,
// and the file's SHA-256 cp.ArchiveSHA256. A mismatch wraps
// ErrArchiveBroken and names the first line that fails; other errors are
// I/O. The file's name is not checked, so a copy kept elsewhere verifies
// too.
func VerifyArchive(path string, cp Checkpoint) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: verify archive: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	sc := bufio.NewScanner(io.TeeReader(f, sum))
	sc.Buffer(make([]byte, 0, 64<<10), maxArchiveLine)
	broken := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrArchiveBroken, path, fmt.Sprintf(format, args...))
	}
	var n uint64
	prev := cp.FirstPrev
	for sc.Scan() {
		n++
		var e store.AuditEntry
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return broken("line %d is not an audit entry: %v", n, err)
		}
		if problem := checkLink(e, cp.FirstSeq+n-1, prev); problem != "" {
			return broken("line %d: %s", n, problem)
		}
		prev = e.Hash
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return broken("line %d is longer than %d bytes", n+1, maxArchiveLine)
		}
		return fmt.Errorf("audit: verify archive: %w", err)
	}
	switch {
	case n != cp.Entries:
		return broken("holds %d entries, the checkpoint says %d", n, cp.Entries)
	case n == 0 || cp.FirstSeq+n-1 != cp.Seq:
		return broken("ends at entry %d, the checkpoint at entry %d", cp.FirstSeq+n-1, cp.Seq)
	case !bytes.Equal(prev, cp.Hash):
		return broken("its last entry's hash is %s, the checkpoint's %s", short(prev), short(cp.Hash))
	case !bytes.Equal(sum.Sum(nil), cp.ArchiveSHA256):
		return broken("its SHA-256 is not the checkpoint's: bytes were changed without changing the entries")
	}
	return nil
}

package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
	"github.com/accessd/accessd/store/storetest"
	"github.com/accessd/accessd/store/storetest/testkit"
)

const day = 24 * time.Hour

var t0 = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture is the "two years" store of the prune tests, built once per
// test binary (twoYearsFixture) and copied for every case that uses it:
// one chained entry a day for 730 days from t0.
var fixture struct {
	once sync.Once
	dir  string // the closed store, never opened in place
	key  []byte
	all  []store.AuditEntry
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// buildTwoYears writes the fixture: the 730 entries are staged in one
// transaction, each with its day's time, and chained by one Sync.
func buildTwoYears() error {
	dir, err := os.MkdirTemp("", "accessd-audit-two-years-")
	if err != nil {
		return err
	}
	fixture.dir = dir
	fixture.key = make([]byte, 32)
	if _, err := rand.Read(fixture.key); err != nil {
		return err
	}
	c := testkit.NewClock(t0.Add(729 * day))
	q := audit.NewQueue()
	st, err := store.Open(dir, fixture.key, store.Options{Now: c.Now, Audit: q})
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := audit.Open(st, q, audit.Options{Now: c.Now})
	if err != nil {
		return err
	}
	defer l.Close()
	err = st.Update(func(tx *store.Tx) error {
		for i := range 730 {
			if err := tx.Audit().Stage(dayEntry(i, t0.Add(time.Duration(i)*day))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.Sync(); err != nil {
		return err
	}
	fixture.all, err = audit.List(st, 1, 0)
	if err != nil {
		return err
	}
	if len(fixture.all) != 730 {
		return fmt.Errorf("two years fixture: %d entries chained, want 730", len(fixture.all))
	}
	if err := l.Close(); err != nil {
		return err
	}
	return st.Close()
}

// twoYearsCopy returns a copy of the fixture's store directory (closed),
// its root key, a clock at the last entry, and the entries.
func twoYearsCopy(t *testing.T) (string, []byte, *testkit.Clock, []store.AuditEntry) {
	t.Helper()
	fixture.once.Do(func() { fixture.err = buildTwoYears() })
	require.NoError(t, fixture.err)
	dir := filepath.Join(t.TempDir(), "db")
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixture.dir)))
	return dir, fixture.key, testkit.NewClock(fixture.all[729].Time), slices.Clone(fixture.all)
}

// twoYears returns a store and log whose chain holds one entry a day for
// 730 days from t0, with the clock at the last one, and the entries.
func twoYears(t *testing.T) (*store.Store, *audit.Log, *testkit.Clock, []store.AuditEntry) {
	t.Helper()
	dir, key, c, all := twoYearsCopy(t)
	st := storetest.OpenWith(t, dir, key, store.Options{Now: c.Now})
	l := openLog(t, st, audit.Options{Now: c.Now})
	return st, l, c, all
}

// dayEntry is the fixture's entry of day i.
func dayEntry(i int, at time.Time) store.AuditEntry {
	return store.AuditEntry{Time: at, Type: "user.update", Actor: "uid:0",
		Target: "user:" + strconv.Itoa(i), Result: "ok", Detail: map[string]string{"n": strconv.Itoa(i)}}
}

// record appends n entries one day apart, moving the clock to each.
func record(t *testing.T, l *audit.Log, c *testkit.Clock, n int) {
	t.Helper()
	for i := range n {
		if i > 0 {
			c.Add(day)
		}
		e := dayEntry(i, time.Time{})
		require.NoError(t, l.Record(context.Background(), e))
	}
}

// sameEntry reports whether a and b are the same chained entry.
func sameEntry(a, b store.AuditEntry) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Type == b.Type && a.Target == b.Target &&
		bytes.Equal(a.PrevHash, b.PrevHash) && bytes.Equal(a.Hash, b.Hash)
}

// readArchive returns the entries of an archive file, line by line.
func readArchive(t *testing.T, path string) []store.AuditEntry {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []store.AuditEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e store.AuditEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	return out
}

// archives lists the archive files in dir, oldest first.
func archives(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	require.NoError(t, err)
	slices.Sort(names)
	return names
}

// requireWhole checks that the archives in dir and the store together
// hold want, each entry once and unchanged, and that the store's chain
// verifies from its checkpoint and the newest archive against it.
func requireWhole(t *testing.T, st *store.Store, dir string, want []store.AuditEntry) {
	t.Helper()
	var got []store.AuditEntry
	for _, a := range archives(t, dir) {
		got = append(got, readArchive(t, a)...)
	}
	stored, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	got = append(got, stored...)
	require.Len(t, got, len(want), "archives and store together")
	for i := range want {
		require.True(t, sameEntry(want[i], got[i]), "entry %d: got %+v", i+1, got[i])
	}
	res, err := audit.Verify(st)
	require.NoError(t, err)
	require.True(t, res.OK, "verify: %+v", res)
	require.Equal(t, want[len(want)-1].Seq, res.Entries)
	if res.Checkpoint != nil {
		require.NoError(t, audit.VerifyArchive(filepath.Join(dir, res.Checkpoint.Archive), *res.Checkpoint))
	}
}

// TestPruneRetention: of two years of entries, pruning at 400 days
// archives exactly those older, the chain verifies from the checkpoint,
// the archive verifies against it, a second run does nothing, and a
// later run starts a second archive where the first ended.
func TestPruneRetention(t *testing.T) {
	t.Parallel()
	st, l, c, all := twoYears(t)
	dir := filepath.Join(t.TempDir(), "audit-archive")
	before := c.Now().Add(-400 * day)
	var old []store.AuditEntry
	for _, e := range all {
		if e.Time.Before(before) {
			old = append(old, e)
		}
	}
	require.Len(t, old, 329) // day 0 to day 328 of 729

	res, err := l.Prune(context.Background(), before, dir)
	require.NoError(t, err)
	require.EqualValues(t, 329, res.Archived)
	require.EqualValues(t, 329, res.Deleted)
	require.NotNil(t, res.Checkpoint)
	cp := *res.Checkpoint
	require.EqualValues(t, 1, cp.FirstSeq)
	require.EqualValues(t, 329, cp.Seq)
	require.EqualValues(t, 329, cp.Entries)
	require.Equal(t, all[328].Hash, cp.Hash)
	require.True(t, cp.Time.Equal(c.Now()), "checkpoint time from the injected clock")
	require.Equal(t, "audit-00000000000000000001.jsonl", cp.Archive)

	fi, err := os.Stat(filepath.Join(dir, cp.Archive))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	require.True(t, slices.EqualFunc(old, readArchive(t, filepath.Join(dir, cp.Archive)), sameEntry), "the archive holds exactly the old entries, as chained")
	stored, err := audit.CurrentCheckpoint(st)
	require.NoError(t, err)
	require.Equal(t, cp.Seq, stored.Seq)

	v, err := audit.Verify(st)
	require.NoError(t, err)
	require.True(t, v.OK, "verify: %+v", v)
	require.EqualValues(t, 730, v.Entries)
	require.EqualValues(t, 401, v.Checked)
	require.NotNil(t, v.Checkpoint)
	require.Equal(t, cp.Archive, v.Checkpoint.Archive)
	require.Equal(t, all[729].Hash, v.Head)
	require.NoError(t, audit.VerifyArchive(filepath.Join(dir, cp.Archive), cp))
	requireWhole(t, st, dir, all)

	// Nothing old left: no file, no change.
	again, err := l.Prune(context.Background(), before, dir)
	require.NoError(t, err)
	require.Equal(t, audit.PruneResult{}, again)
	require.Len(t, archives(t, dir), 1)

	// A month on, the next archive starts where the first ended.
	next, err := l.Prune(context.Background(), before.Add(30*day), dir)
	require.NoError(t, err)
	require.EqualValues(t, 30, next.Archived)
	require.EqualValues(t, 330, next.Checkpoint.FirstSeq)
	require.Equal(t, cp.Hash, next.Checkpoint.FirstPrev)
	require.NoError(t, audit.VerifyArchive(filepath.Join(dir, next.Checkpoint.Archive), *next.Checkpoint))
	require.Len(t, archives(t, dir), 2)
	requireWhole(t, st, dir, all)
}

// TestPruneKeepsHead: the head is never archived, however old, so the
// chain in the store always ends in an entry Verify checks.
func TestPruneKeepsHead(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 5} {
		t.Run(strconv.Itoa(n)+" entries", func(t *testing.T) {
			t.Parallel()
			c := testkit.NewClock(t0)
			st := storetest.Open(t)
			l := openLog(t, st, audit.Options{Now: c.Now})
			record(t, l, c, n)
			all, err := audit.List(st, 1, 0)
			require.NoError(t, err)
			dir := t.TempDir()
			res, err := l.Prune(context.Background(), t0.Add(1000*day), dir)
			require.NoError(t, err)
			require.EqualValues(t, max(n-1, 0), res.Archived)
			if n <= 1 {
				require.Empty(t, archives(t, dir), "nothing to archive writes no file")
				return
			}
			last, err := audit.Last(st)
			require.NoError(t, err)
			require.EqualValues(t, n, last.Seq)
			requireWhole(t, st, dir, all)
		})
	}
}

// TestPruneStopped: a prune stopped after any of its steps (a crash, or
// the daemon stopping) leaves a store that Verify accepts, and the next
// run, after a restart, finishes without losing or duplicating an entry,
// whether or not more entries have aged meanwhile.
func TestPruneStopped(t *testing.T) {
	t.Parallel()
	errCrash := errors.New("crash")
	tests := []struct {
		name    string
		step    string        // where the first run stops
		later   time.Duration // how much later the second run cuts
		wantCP  bool          // whether the checkpoint was recorded before the stop
		deleted uint64        // entries the first run deleted
	}{
		{"after the archive was written", "archived", 0, false, 0},
		{"after the archive was written, rerun later", "archived", 20 * day, false, 0},
		{"after the checkpoint", "checkpointed", 0, true, 0},
		{"after the first deletion batch", "deleted", 0, true, 100},
		{"after the first deletion batch, rerun later", "deleted", 20 * day, true, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dbDir, key, c, all := twoYearsCopy(t)
			st := storetest.OpenWith(t, dbDir, key, store.Options{Now: c.Now})
			l, err := audit.Open(st, storetest.Queue(t, st), audit.Options{Now: c.Now})
			require.NoError(t, err)
			dir := filepath.Join(t.TempDir(), "audit-archive")
			before := c.Now().Add(-400 * day)

			audit.SetPruneBatchForTest(l, 100)
			audit.SetPruneStepForTest(l, func(name string) error {
				if name == tc.step {
					return errCrash
				}
				return nil
			})
			res, err := l.Prune(context.Background(), before, dir)
			require.ErrorIs(t, err, errCrash)
			require.Equal(t, tc.deleted, res.Deleted)
			require.Len(t, archives(t, dir), 1, "the archive is in place before anything else happens")
			_, err = audit.CurrentCheckpoint(st)
			if tc.wantCP {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, store.ErrNotFound)
			}
			v, err := audit.Verify(st)
			require.NoError(t, err)
			require.True(t, v.OK, "verify after the stop: %+v", v)
			require.EqualValues(t, 730, v.Entries)

			// Restart: a new process opens the store and the log again.
			require.NoError(t, l.Close())
			require.NoError(t, st.Close())
			st = storetest.OpenWith(t, dbDir, key, store.Options{Now: c.Now})
			l = openLog(t, st, audit.Options{Now: c.Now})
			v, err = audit.Verify(st)
			require.NoError(t, err)
			require.True(t, v.OK, "verify after the restart: %+v", v)

			res, err = l.Prune(context.Background(), before.Add(tc.later), dir)
			require.NoError(t, err)
			wantFiles := 1 // the rerun replaces an archive no checkpoint names
			if tc.wantCP && tc.later > 0 {
				wantFiles = 2 // the recorded one, and one for what aged since
			}
			require.Len(t, archives(t, dir), wantFiles)
			requireWhole(t, st, dir, all)
			cp, err := audit.CurrentCheckpoint(st)
			require.NoError(t, err)
			require.EqualValues(t, 329+int(tc.later/day), cp.Seq)
			first, err := audit.List(st, 1, 1)
			require.NoError(t, err)
			require.Equal(t, cp.Seq+1, first[0].Seq, "every archived entry is gone from the store")
			tmp, err := filepath.Glob(filepath.Join(dir, ".*.tmp"))
			require.NoError(t, err)
			require.Empty(t, tmp)
		})
	}
}

// TestPruneWhileRecording: a prune running beside Record calls loses
// nothing: every entry is either archived or in the store, once, and the
// chain verifies.
func TestPruneWhileRecording(t *testing.T) {
	t.Parallel()
	st, l, c, _ := twoYears(t)
	dir := t.TempDir()
	audit.SetPruneBatchForTest(l, 7)
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := l.Record(context.Background(), store.AuditEntry{Type: "auth.password", Target: strconv.Itoa(w*each + i)})
				if !assert.NoError(t, err, "record") {
					return
				}
			}
		})
	}
	var archived uint64
	for i := range 15 {
		res, err := l.Prune(context.Background(), c.Now().Add(time.Duration(-400+20*i)*day), dir)
		require.NoError(t, err)
		archived += res.Archived
		v, err := audit.Verify(st)
		require.NoError(t, err)
		require.True(t, v.OK, "verify during the prunes: %+v", v)
	}
	wg.Wait()
	require.Greater(t, archived, uint64(329))

	var got []store.AuditEntry
	for _, a := range archives(t, dir) {
		got = append(got, readArchive(t, a)...)
	}
	require.EqualValues(t, archived, len(got))
	stored, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	got = append(got, stored...)
	require.Len(t, got, 730+writers*each)
	seen := map[string]bool{}
	for i, e := range got {
		require.EqualValues(t, i+1, e.Seq)
		if e.Type == "auth.password" {
			require.False(t, seen[e.Target], "entry %s twice", e.Target)
			seen[e.Target] = true
		}
	}
	require.Len(t, seen, writers*each)
	requireWhole(t, st, dir, got)
}

// TestVerifyArchiveDetects: an archive that was changed in any way no
// longer verifies against its checkpoint.
func TestVerifyArchiveDetects(t *testing.T) {
	t.Parallel()
	_, l, c, _ := twoYears(t)
	dir := t.TempDir()
	res, err := l.Prune(context.Background(), c.Now().Add(-400*day), dir)
	require.NoError(t, err)
	cp := *res.Checkpoint
	orig, err := os.ReadFile(filepath.Join(dir, cp.Archive))
	require.NoError(t, err)
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty piece after the last newline

	edit := func(i int, fn func(e *store.AuditEntry)) []byte {
		var e store.AuditEntry
		require.NoError(t, json.Unmarshal(lines[i], &e))
		fn(&e)
		b, err := json.Marshal(&e)
		require.NoError(t, err)
		out := slices.Clone(lines)
		out[i] = append(b, '\n')
		return bytes.Join(out, nil)
	}
	tests := []struct {
		name string
		file []byte
		cp   func(*audit.Checkpoint)
	}{
		{"a line's content edited", edit(41, func(e *store.AuditEntry) { e.Result = "denied" }), nil},
		{"a line's content and hash edited", edit(41, func(e *store.AuditEntry) {
			e.Actor = "uid:1000"
			e.Hash, _ = audit.Hash(*e)
		}), nil},
		{"the last line's content and hash edited", edit(len(lines)-1, func(e *store.AuditEntry) {
			e.Target = "user:x"
			e.Hash, _ = audit.Hash(*e)
		}), nil},
		{"a line removed", bytes.Join(slices.Delete(slices.Clone(lines), 10, 11), nil), nil},
		{"the last line removed", bytes.Join(lines[:len(lines)-1], nil), nil},
		{"the first line removed", bytes.Join(lines[1:], nil), nil},
		{"two lines swapped", func() []byte {
			out := slices.Clone(lines)
			out[3], out[4] = out[4], out[3]
			return bytes.Join(out, nil)
		}(), nil},
		{"a line added", append(slices.Clone(orig), lines[0]...), nil},
		{"spacing changed only", bytes.Replace(orig, []byte(`{"seq":5,`), []byte(`{ "seq":5,`), 1), nil},
		{"empty", []byte{}, nil},
		{"the checkpoint's hash changed", orig, func(cp *audit.Checkpoint) { cp.Hash = bytes.Repeat([]byte{1}, 32) }},
		{"the checkpoint's SHA-256 changed", orig, func(cp *audit.Checkpoint) { cp.ArchiveSHA256 = bytes.Repeat([]byte{1}, 32) }},
		{"the checkpoint's count changed", orig, func(cp *audit.Checkpoint) { cp.Entries++ }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "archive.jsonl")
			require.NoError(t, os.WriteFile(path, tc.file, 0o600))
			want := cp
			if tc.cp != nil {
				tc.cp(&want)
			}
			err := audit.VerifyArchive(path, want)
			require.ErrorIs(t, err, audit.ErrArchiveBroken)
			t.Log(err)
		})
	}
	require.NoError(t, audit.VerifyArchive(filepath.Join(dir, cp.Archive), cp), "the archive itself is sound")
}

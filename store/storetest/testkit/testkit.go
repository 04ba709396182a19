// Package testkit is the one test kit every package's tests share: a
// movable clock, golden files behind one -update flag, and a helper that
// waits for a condition. It imports only the standard library, so the
// tests of any package (seal and accessctl included) may use it without
// pulling the store in.
package testkit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Clock is an injected clock that tests move. Its zero value is not
// useful: start one with NewClock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Epoch is where every test clock starts unless told otherwise.
var Epoch = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// NewClock is a clock standing at start (Epoch when start is zero).
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Epoch
	}
	return &Clock{t: start}
}

// Now is the clock's time; pass c.Now where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d (backwards when d is negative).
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// Updating says whether this run rewrites golden files (go test -update).
func Updating() bool { return *update }

// Golden compares got with testdata/name, writing the file first under
// go test -update. A missing file fails and says how to create it.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (if on purpose: go test -update):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Eventually polls cond every 10 ms until it holds or d passes, then
// fails with what. It is for state another process or goroutine changes,
// never a substitute for a synchronous answer.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

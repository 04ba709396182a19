package store_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
)

const (
	rssEnv      = "ACCESSD_RSS"
	rssChildEnv = "ACCESSD_RSS_CHILD_DIR"
	rssUsers    = 100_000
)

// TestIdleRSS100k measures the resident memory of a process that opened a
// store of 100k users, read a few and went idle. The fill runs here; the
// measurement in a fresh child process, so nothing of the fill is resident.
// Gated because the fill takes a while:
//
//	ACCESSD_RSS=1 go test -run 'TestIdleRSS100k$' -v -timeout 20m ./store/
func TestIdleRSS100k(t *testing.T) {
	if os.Getenv(rssEnv) != "1" {
		t.Skip("set ACCESSD_RSS=1 to measure idle RSS with 100k users")
	}
	dir := t.TempDir()
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 { // concurrent writers share fsyncs (group commit)
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= rssUsers {
					return
				}
				err := st.Update(func(tx *store.Tx) error {
					u, err := tx.Users().Create(store.User{
						Username: fmt.Sprintf("user%06d", i), Email: fmt.Sprintf("user%06d@example.test", i),
						FirstName: "First", LastName: "Last", Groups: []string{"readers", "ledger-writers"},
					})
					if err != nil {
						return err
					}
					if _, err := tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) {
						return store.Credential{ID: u.ID, PasswordHash: phc, PasswordChangedAt: start}, nil
					}); err != nil {
						return err
					}
					_, err = tx.Logins().Put(u.ID, func(l store.LoginState) (store.LoginState, error) { l.LastLoginAt = start; return l, nil })
					return err
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	fill := time.Since(start)
	lsm, vlog := st.Size()
	require.NoError(t, st.Close())
	t.Logf("filled %d users in %v (%.0f/s); on disk: lsm %.1f MiB, vlog %.1f MiB",
		rssUsers, fill.Round(time.Millisecond), rssUsers/fill.Seconds(), mib(lsm), mib(vlog))

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleRSSChild$", "-test.v")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "RSS") {
			t.Log(strings.TrimSpace(l))
		}
	}
	require.Contains(t, string(out), "idle VmRSS", "child did not report:\n%s", out)
}

// TestIdleRSSChild is the fresh process of TestIdleRSS100k.
func TestIdleRSSChild(t *testing.T) {
	dir := os.Getenv(rssChildEnv)
	if dir == "" {
		t.Skip("helper process of TestIdleRSS100k")
	}
	t.Logf("VmRSS before open: %.1f MiB", vmRSS(t))
	st, err := store.Open(dir, testRoot, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	for _, i := range []int{0, 1, 4242, 50_000, 99_999} {
		u, err := st.Users().GetByUsername(fmt.Sprintf("user%06d", i))
		require.NoError(t, err)
		_, err = st.Users().Get(u.ID)
		require.NoError(t, err)
	}
	settle()
	t.Logf("idle VmRSS after open and 5 reads: %.1f MiB (%s)", vmRSS(t), heap())

	// What the daemon does at start-up with every user (permission index):
	// one full scan, page by page.
	n, after := 0, ""
	for {
		page, err := st.Users().List(after, 1000)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		n += len(page)
		after = page[len(page)-1].ID
	}
	require.Equal(t, rssUsers, n, "scanned %d users, want %d", n, rssUsers)
	settle()
	t.Logf("idle VmRSS after a full scan of %d users: %.1f MiB (%s)", n, vmRSS(t), heap())
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(2 * time.Second)
	runtime.GC()
}

func heap() string {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return fmt.Sprintf("Go heap in use %.1f MiB, Go sys %.1f MiB", mib(int64(m.HeapInuse)), mib(int64(m.Sys)))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// vmRSS reads the resident set size from /proc/self/status.
func vmRSS(t *testing.T) float64 {
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return float64(kb) / 1024
		}
	}
	require.FailNow(t, "no VmRSS in /proc/self/status")
	return 0
}

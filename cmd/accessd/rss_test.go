package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// TestDaemonIdleRSS100k measures what the issue asks for: the resident
// memory of a real `accessd serve --dev` whose store holds 100k users, once
// it is ready and idle. This process initialises the data dir through the
// real binary, unseals the root key with the dev simulator (the only one in
// this process) to fill the store, closes it, then starts the daemon as a
// child and reads its VmRSS. Gated because the fill takes a while:
//
//	ACCESSD_RSS=1 go test -run 'TestDaemonIdleRSS100k$' -v -timeout 20m ./cmd/accessd/
func TestDaemonIdleRSS100k(t *testing.T) {
	gated(t, "ACCESSD_RSS", "measure the daemon's idle RSS with 100k users")
	const users = 100_000
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.Equal(t, 0, r.code, r.stderr)

	tpm, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: filepath.Join(d, "seal", "simulator.seed")})
	require.NoError(t, err)
	root, _, err := seal.ReadSealedFile(filepath.Join(d, "seal", "root.sealed"), tpm)
	require.NoError(t, err)
	require.NoError(t, tpm.Close())
	st, err := store.Open(filepath.Join(d, "db"), root.Bytes(), store.Options{})
	root.Destroy()
	require.NoError(t, err)
	// A real argon2id PHC string, computed once; hashing 100k passwords
	// would only measure argon2.
	const phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0123456789abcdef0123456789abcdef0123456789A"
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= users {
					return
				}
				err := st.Update(func(tx *store.Tx) error {
					u, err := tx.Users().Create(store.User{
						Username: fmt.Sprintf("user%06d", i), Email: fmt.Sprintf("user%06d@example.test", i),
						FirstName: "First", LastName: "Last", Groups: []string{"midaz-viewer-group"},
						CreatedAt: start, UpdatedAt: start,
					})
					if err != nil {
						return err
					}
					_, err = tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) {
						return store.Credential{ID: u.ID, PasswordHash: phc, PasswordChangedAt: start}, nil
					})
					return err
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, st.Close())
	n := 0
	filepath.Walk(d, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			n += int(fi.Size())
		}
		return nil
	})
	t.Logf("filled %d users in %s; data dir %.1f MiB", users, time.Since(start).Round(time.Second), float64(n)/(1<<20))

	daemon := startServe(t, 2*time.Minute, "--dev", "--data-dir", d, "--listen", freeAddr(t))
	time.Sleep(10 * time.Second) // let start-up garbage be collected and compactions settle
	rss := vmRSS(t, daemon.cmd.Process.Pid)
	t.Logf("RESULT daemon idle RSS with %d users: %.1f MiB (target < 128 MiB)", users, float64(rss)/(1<<20))
	require.Less(t, rss, int64(128<<20), "idle RSS over the 128 MiB target")
	daemon.stop(t)
}

func vmRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	require.Fail(t, "no VmRSS")
	return 0
}

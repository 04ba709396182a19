package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/daemontest"
	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// TestScale measures issue 6 §7 against a real `accessd serve --dev`
// whose store holds a million users and ten thousand groups: idle RSS,
// exec to READY=1, user get latency over the admin socket, the round trip
// of a grant, and 16 writers against 1 over the admin socket. It prints
// RESULT lines that scripts/bench collects; it asserts nothing about the
// figures (the machine may be shared), only that every call succeeded.
//
// The dataset is seeded once, directly through the store with one
// precomputed argon2id hash, and cached in ACCESSD_SCALE_DIR (default
// /var/tmp/accessd-bench-1m) with the dev simulator seed, so --dev
// unseals it on later runs. Gated:
//
//	ACCESSD_SCALE=1 go test -run 'TestScale$' -v -timeout 60m ./cmd/accessd/
//
// Knobs: ACCESSD_SCALE_USERS (1000000), ACCESSD_SCALE_GROUPS (10000),
// ACCESSD_SCALE_GETS (10000 user gets each way),
// ACCESSD_SCALE_RUNS (3 daemon starts), ACCESSD_SCALE_SETTLE (15s).
func TestScale(t *testing.T) {
	gated(t, "ACCESSD_SCALE", "measure issue 6 §7 with a million users")
	p := scaleParams{
		Users:  envInt(t, "ACCESSD_SCALE_USERS", 1_000_000),
		Groups: envInt(t, "ACCESSD_SCALE_GROUPS", 10_000),
		Layout: scaleLayout,
	}
	dir := os.Getenv("ACCESSD_SCALE_DIR")
	if dir == "" {
		dir = fmt.Sprintf("/var/tmp/accessd-bench-%s", scaleSize(p.Users))
	}
	runs := envInt(t, "ACCESSD_SCALE_RUNS", 3)
	settle := envDuration(t, "ACCESSD_SCALE_SETTLE", 15*time.Second)
	data := scaleDataset(t, dir, p)

	var m scaleSamples
	for run := 1; run <= runs; run++ {
		t.Logf("run %d of %d", run, runs)
		scaleRun(t, data, p, settle, &m)
	}
	m.report(t, runs)
	scaleInProcess(t, data, p, runs)
}

// scaleLayout names how scaleDataset lays out users and groups; a cached
// dataset with another layout is seeded again.
const scaleLayout = "v1: user i in team group i%G, plus 0-2 of 4 role groups by i%3; 3 permissions per group"

type scaleParams struct {
	Users, Groups int
	Layout        string
	// Filled by the seeder.
	SeedSeconds float64 `json:",omitempty"`
	GroupSets   int     `json:",omitempty"`
	DataDirMiB  float64 `json:",omitempty"`
}

func scaleSize(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dm", n/1_000_000)
	}
	if n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// scaleUserID is user i's record ID: a canonical lower-case UUIDv4 made
// from i, so the bench can ask for random users without keeping a list.
func scaleUserID(i int) string {
	h := sha256.Sum256([]byte("accessd-bench-user/" + strconv.Itoa(i)))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func scaleGroupName(g int) string { return fmt.Sprintf("bench-group-%05d", g) }

// scaleUserGroups is user i's groups: its team (i mod G) and, for two
// users in three, one or two of four role groups (groups 0-3 double as
// roles), so that users of a team share a handful of combinations, as
// they do in a real directory.
func scaleUserGroups(i, groups int) []string {
	gs := []string{scaleGroupName(i % groups)}
	switch i % 3 {
	case 1:
		gs = append(gs, scaleGroupName((i/groups)%4))
	case 2:
		gs = append(gs, scaleGroupName((i/groups)%4), scaleGroupName(((i/groups)+1)%4))
	}
	slices.Sort(gs)
	return slices.Compact(gs)
}

func scaleGroupPerms(g int) []store.Permission {
	return []store.Permission{
		{Product: "midaz", Resource: fmt.Sprintf("ledgers-%d", g%97), Action: "get"},
		{Product: "midaz", Resource: fmt.Sprintf("accounts-%d", g%89), Action: "post"},
		{Resource: fmt.Sprintf("reports-%d", g), Action: "*"},
	}
}

// scaleDataset returns the data dir of the cached dataset, seeding it
// first when the cache is missing or was made for other parameters.
func scaleDataset(t *testing.T, dir string, p scaleParams) string {
	data := filepath.Join(dir, "data")
	marker := filepath.Join(dir, "seeded.json")
	if b, err := os.ReadFile(marker); err == nil {
		var have scaleParams
		if json.Unmarshal(b, &have) == nil && have.Users == p.Users && have.Groups == p.Groups && have.Layout == p.Layout {
			t.Logf("RESULT dataset: cached in %s (%d users, %d groups, %d distinct group sets, data dir %.0f MiB at seeding; seeding took %.0f s)",
				dir, have.Users, have.Groups, have.GroupSets, have.DataDirMiB, have.SeedSeconds)
			return data
		}
	}
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o700))
	start := time.Now()
	r := runAccessd(t, "init", "--dev", "--data-dir", data)
	require.Equal(t, 0, r.code, r.stderr)

	st, _ := openDevStore(t, data)

	// One real argon2id hash at the default cost, shared by every user: a
	// million hashes would take hours and measure only argon2.
	phc, err := credential.HashPassword([]byte("bench password that nobody uses"), credential.DefaultPasswordParams, rand.Reader)
	require.NoError(t, err)

	const groupBatch = 500
	for lo := 0; lo < p.Groups; lo += groupBatch {
		require.NoError(t, st.Update(func(tx *store.Tx) error {
			for g := lo; g < min(lo+groupBatch, p.Groups); g++ {
				if _, err := tx.Groups().Create(store.Group{Name: scaleGroupName(g), Description: "bench group",
					Permissions: scaleGroupPerms(g), CreatedAt: start, UpdatedAt: start}); err != nil {
					return err
				}
			}
			return nil
		}))
	}

	// Users in batches of a few hundred per transaction (Badger caps a
	// transaction at 15% of a memtable), from a few writers so that fsyncs
	// overlap, in the order of their IDs, so that the user and credential
	// tables are written mostly in key order and compaction has little to
	// merge.
	order := make([]int, p.Users)
	ids := make([]string, p.Users)
	for i := range order {
		order[i], ids[i] = i, scaleUserID(i)
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	ids = nil
	const userBatch = 200
	var next atomic.Int64
	var wg sync.WaitGroup
	var done atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				lo := int(next.Add(userBatch)) - userBatch
				if lo >= p.Users {
					return
				}
				err := st.Update(func(tx *store.Tx) error {
					for _, i := range order[lo:min(lo+userBatch, p.Users)] {
						u, err := tx.Users().Create(store.User{ID: scaleUserID(i),
							Username: fmt.Sprintf("benchuser%07d", i), Email: fmt.Sprintf("benchuser%07d@example.test", i),
							FirstName: "Bench", LastName: fmt.Sprintf("User %d", i), Groups: scaleUserGroups(i, p.Groups),
							CreatedAt: start, UpdatedAt: start})
						if err != nil {
							return err
						}
						if _, err := tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) {
							return store.Credential{ID: u.ID, PasswordHash: phc, PasswordChangedAt: start}, nil
						}); err != nil {
							return err
						}
					}
					return nil
				})
				if !assert.NoError(t, err) {
					return
				}
				if n := done.Add(userBatch); n%100_000 == 0 {
					t.Logf("seeded %d users in %s", n, time.Since(start).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	require.NoError(t, st.Close())

	sets := map[string]bool{}
	for i := range p.Users {
		sets[strings.Join(scaleUserGroups(i, p.Groups), ",")] = true
	}
	p.GroupSets = len(sets)
	p.SeedSeconds = time.Since(start).Seconds()
	p.DataDirMiB = float64(dirSize(data)) / (1 << 20)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(marker, b, 0o600))
	t.Logf("RESULT dataset: seeded %s in %.0f s (%d users, %d groups, %d distinct group sets, data dir %.0f MiB)",
		dir, p.SeedSeconds, p.Users, p.Groups, p.GroupSets, p.DataDirMiB)
	return data
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// scaleSamples collects each run's figures.
type scaleSamples struct {
	ready                            []time.Duration
	phases                           map[string][]time.Duration
	rssIdle, rssReady, rssHWM        []float64 // MiB
	rssAnon, rssFile                 []float64
	getSeqP50, getSeqP99, getSeqMax  []time.Duration
	getConP50, getConP99, getConRate []float64 // ms, ms, req/s
	grantP50, grantP99               []time.Duration
	w1, w16                          []float64 // ops/s
	rssAfter                         []float64
}

// scaleRun starts the daemon once and measures everything against it.
func scaleRun(t *testing.T, data string, p scaleParams, settle time.Duration, m *scaleSamples) {
	notify, notes := daemontest.NotifySocket(t)
	cmd := accessd("serve", "--dev", "--data-dir", data, "--listen", freeAddr(t))
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+notify)
	var stderr daemontest.SyncBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	// 2. exec to READY=1, with the time at which each start-up phase
	// (STATUS=…) began.
	if m.phases == nil {
		m.phases = map[string][]time.Duration{}
	}
	last, lastAt := "exec", start
	deadline := time.After(5 * time.Minute)
wait:
	for {
		select {
		case n := <-notes:
			now := time.Now()
			for _, line := range strings.Split(n, "\n") {
				if s, ok := strings.CutPrefix(line, "STATUS="); ok && !strings.Contains(n, "READY=1") {
					m.phases[last] = append(m.phases[last], now.Sub(lastAt))
					last, lastAt = s, now
				}
			}
			if strings.Contains(n, "READY=1") {
				m.phases[last] = append(m.phases[last], now.Sub(lastAt))
				m.ready = append(m.ready, now.Sub(start))
				break wait
			}
		case <-deadline:
			require.Fail(t, "no READY=1 within 5 minutes", stderr.String())
		}
	}
	pid := cmd.Process.Pid
	m.rssReady = append(m.rssReady, mib(procStatus(t, pid, "VmRSS")))
	t.Logf("READY=1 after %s", m.ready[len(m.ready)-1].Round(time.Millisecond))

	// 1. Idle RSS once start-up garbage is collected and compactions
	// settle.
	time.Sleep(settle)
	m.rssIdle = append(m.rssIdle, mib(procStatus(t, pid, "VmRSS")))
	m.rssHWM = append(m.rssHWM, mib(procStatus(t, pid, "VmHWM")))
	m.rssAnon = append(m.rssAnon, mib(procStatus(t, pid, "RssAnon")))
	m.rssFile = append(m.rssFile, mib(procStatus(t, pid, "RssFile")))
	t.Logf("idle VmRSS %.1f MiB (anon %.1f, file %.1f), VmHWM %.1f MiB", m.rssIdle[len(m.rssIdle)-1],
		m.rssAnon[len(m.rssAnon)-1], m.rssFile[len(m.rssFile)-1], m.rssHWM[len(m.rssHWM)-1])

	c := adminClient(filepath.Join(data, "admin.sock"))
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 6))

	// 3. User get by random ID over the admin socket: sequential, then 8
	// concurrent clients.
	seq := envInt(t, "ACCESSD_SCALE_GETS", 10_000)
	lat := make([]time.Duration, 0, seq)
	for range seq {
		id := scaleUserID(rng.IntN(p.Users))
		t0 := time.Now()
		c.must(t, "GET", "/v1/users/"+id, nil, http.StatusOK)
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	m.getSeqP50 = append(m.getSeqP50, pct(lat, 50))
	m.getSeqP99 = append(m.getSeqP99, pct(lat, 99))
	m.getSeqMax = append(m.getSeqMax, lat[len(lat)-1])
	t.Logf("user get sequential: p50 %s p99 %s max %s", pct(lat, 50), pct(lat, 99), lat[len(lat)-1])

	const clients = 8
	perClient := seq / clients
	var mu sync.Mutex
	lat = lat[:0]
	var wg sync.WaitGroup
	t0 := time.Now()
	for k := range clients {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(k), uint64(time.Now().UnixNano())))
			mine := make([]time.Duration, 0, perClient)
			for range perClient {
				id := scaleUserID(r.IntN(p.Users))
				t1 := time.Now()
				c.must(t, "GET", "/v1/users/"+id, nil, http.StatusOK)
				mine = append(mine, time.Since(t1))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	slices.Sort(lat)
	m.getConP50 = append(m.getConP50, ms(pct(lat, 50)))
	m.getConP99 = append(m.getConP99, ms(pct(lat, 99)))
	m.getConRate = append(m.getConRate, float64(len(lat))/elapsed.Seconds())
	t.Logf("user get, %d clients: p50 %s p99 %s, %.0f req/s", clients, pct(lat, 50), pct(lat, 99), float64(len(lat))/elapsed.Seconds())

	// 4b. The round trip of a grant (and of the revoke that undoes it, so
	// the cached dataset does not grow) on the admin socket: one
	// transaction, its audit entry and the index update.
	const grants = 100
	lat = lat[:0]
	for i := range grants {
		g := scaleGroupName(rng.IntN(p.Groups))
		perm := api.Permission{Product: "bench", Resource: "grant-" + strconv.Itoa(i), Action: "get"}
		t1 := time.Now()
		c.must(t, "POST", "/v1/groups/"+g+"/permissions", perm, http.StatusOK)
		lat = append(lat, time.Since(t1))
		c.must(t, "DELETE", "/v1/groups/"+g+"/permissions", perm, http.StatusOK)
	}
	slices.Sort(lat)
	m.grantP50 = append(m.grantP50, pct(lat, 50))
	m.grantP99 = append(m.grantP99, pct(lat, 99))
	t.Logf("grant round trip: p50 %s p99 %s", pct(lat, 50), pct(lat, 99))

	// 5b. Writers that do not hash, over the admin socket: each op is an
	// add-member, a user update or a remove-member of a user the writer
	// owns (so writers never conflict and the dataset is left as found).
	const window = 5 * time.Second
	w1 := scaleWriters(t, c, p, 1, window)
	w16 := scaleWriters(t, c, p, 16, window)
	m.w1 = append(m.w1, w1)
	m.w16 = append(m.w16, w16)
	t.Logf("writers over the admin socket: 1 -> %.0f ops/s, 16 -> %.0f ops/s (%.1fx)", w1, w16, w16/w1)

	m.rssAfter = append(m.rssAfter, mib(procStatus(t, pid, "VmRSS")))
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	require.NoError(t, cmd.Wait(), stderr.String())
}

// scaleWriters runs n writers for d and returns completed ops per second.
func scaleWriters(t *testing.T, c *adminHTTP, p scaleParams, n int, d time.Duration) float64 {
	var ops atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range n {
		wg.Go(func() {
			// Users far apart from each other and from the role groups'
			// members the other tests touch.
			for k := 0; time.Now().Before(stop); k++ {
				i := (w*7919 + (k/3)*104729) % p.Users
				id := scaleUserID(i)
				g := scaleGroupName((i + p.Groups/2) % p.Groups) // not user i's team
				switch k % 3 {
				case 0:
					c.must(t, "POST", "/v1/groups/"+g+"/members", api.MemberRequest{Member: "user:" + id}, http.StatusOK)
				case 1:
					name := "Bench"
					c.must(t, "PATCH", "/v1/users/"+id, api.UpdateUserRequest{FirstName: &name}, http.StatusOK)
				case 2:
					c.must(t, "DELETE", "/v1/groups/"+g+"/members/user:"+id, nil, http.StatusNoContent)
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(ops.Load()) / time.Since(t0).Seconds()
}

// adminHTTP is an HTTP client on the admin Unix socket.
type adminHTTP struct{ c *http.Client }

func adminClient(sock string) *adminHTTP {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
	}
	return &adminHTTP{c: &http.Client{Transport: tr, Timeout: time.Minute}}
}

func (a *adminHTTP) must(t *testing.T, method, path string, body any, want int) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if !assert.NoError(t, err) {
			return
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://accessd"+path, rd)
	if !assert.NoError(t, err) {
		return
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if !assert.NoError(t, err, "%s %s", method, path) {
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, b)
}

// procStatus reads one kB field of /proc/pid/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	require.Fail(t, fmt.Sprintf("no %s in /proc/%d/status", field, pid))
	return 0
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// med returns the median and the range of xs, as "median (min–max)".
func med(xs []float64, format string) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", m, s[0], s[len(s)-1])
}

func durMS(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

func (m *scaleSamples) report(t *testing.T, runs int) {
	ratio := make([]float64, len(m.w1))
	for i := range m.w1 {
		ratio[i] = m.w16[i] / m.w1[i]
	}
	t.Logf("RESULT scale table (median (min–max) of %d daemon starts; machine shared, 2 cores):", runs)
	t.Logf("RESULT | what | target | measured |")
	t.Logf("RESULT | daemon idle RSS after %s settle | <= 96 MiB | %s MiB |", "start", med(m.rssIdle, "%.1f"))
	t.Logf("RESULT |   of which anon / file-backed (mmapped tables) | | %s / %s MiB |", med(m.rssAnon, "%.1f"), med(m.rssFile, "%.1f"))
	t.Logf("RESULT |   RSS at READY=1; peak (VmHWM); after the load below | | %s; %s; %s MiB |", med(m.rssReady, "%.1f"), med(m.rssHWM, "%.1f"), med(m.rssAfter, "%.1f"))
	t.Logf("RESULT | exec to READY=1 | <= 2000 ms | %s ms |", med(durMS(m.ready), "%.0f"))
	for _, ph := range []string{"exec", "checking host", "unsealing root key", "opening store", "loading identities", "binding listeners"} {
		if v := m.phases[ph]; len(v) > 0 {
			t.Logf("RESULT |   phase %q | | %s ms |", ph, med(durMS(v), "%.0f"))
		}
	}
	t.Logf("RESULT | user get p99, sequential (ACCESSD_SCALE_GETS random IDs, default 10k; admin socket) | <= 1 ms | %s ms (p50 %s, max %s) |",
		med(durMS(m.getSeqP99), "%.3f"), med(durMS(m.getSeqP50), "%.3f"), med(durMS(m.getSeqMax), "%.1f"))
	t.Logf("RESULT | user get p99, 8 concurrent clients (same number of requests) | <= 1 ms | %s ms (p50 %s; %s req/s) |",
		med(m.getConP99, "%.3f"), med(m.getConP50, "%.3f"), med(m.getConRate, "%.0f"))
	t.Logf("RESULT | grant round trip on the admin socket (100) | (<= 100 ms to visible) | p50 %s ms, p99 %s ms |",
		med(durMS(m.grantP50), "%.1f"), med(durMS(m.grantP99), "%.1f"))
	t.Logf("RESULT | writers over the admin socket: 1 / 16 | | %s / %s ops/s |", med(m.w1, "%.0f"), med(m.w16, "%.0f"))
	t.Logf("RESULT | 16 writers vs 1 (admin socket) | >= 4x | %s x |", med(ratio, "%.1f"))
}

// openDevStore unseals a --dev data dir's root key with its simulator
// seed and opens the store, as serve would, with the audit queue its
// audit writer is to be opened with.
func openDevStore(t *testing.T, data string) (*store.Store, *audit.Queue) {
	tpm, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: filepath.Join(data, "seal", "simulator.seed")})
	require.NoError(t, err)
	root, _, err := seal.ReadSealedFile(filepath.Join(data, "seal", "root.sealed"), tpm)
	require.NoError(t, err)
	require.NoError(t, tpm.Close())
	q := audit.NewQueue()
	st, err := store.Open(filepath.Join(data, "db"), root.Bytes(), store.Options{Audit: q})
	root.Destroy()
	require.NoError(t, err)
	return st, q
}

// scaleInProcess measures, over the real service on the cached dataset
// (store on disk, SyncWrites on, index loaded by LoadIndex): how long a
// grant takes to reach decisions (4), and 16 writers that do not hash
// against 1 (5), without HTTP in the way.
func scaleInProcess(t *testing.T, data string, p scaleParams, rounds int) {
	st, q := openDevStore(t, data)
	defer st.Close()
	al, err := audit.Open(st, q, audit.Options{})
	require.NoError(t, err)
	defer al.Close()
	idx := authz.New()
	svc, err := directory.New(st, directory.Config{}, directory.Options{Audit: al, Index: idx})
	require.NoError(t, err)
	var after runtime.MemStats
	t0 := time.Now()
	require.NoError(t, svc.LoadIndex())
	load := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if f := os.Getenv("ACCESSD_SCALE_HEAPPROFILE"); f != "" {
		out, err := os.Create(f)
		require.NoError(t, err)
		require.NoError(t, pprof.WriteHeapProfile(out))
		require.NoError(t, out.Close())
	}
	subjects, groups := idx.Len()
	t.Logf("RESULT in process: LoadIndex of %d subjects, %d groups took %s; live heap after it %.1f MiB (index, epochs and Badger caches)",
		subjects, groups, load.Round(time.Millisecond), mib(int64(after.HeapAlloc)))

	// 4. Grant -> decision, polled from the moment Grant returns.
	ctx := context.Background()
	actor := change.Actor{Name: "uid:0", Source: "bench", Admin: true}
	const n = 300
	var from, post []time.Duration
	late := 0 // grants whose first decision after Grant returned still denied
	for i := range n {
		u := (i * 7919) % p.Users
		member, group := scaleUserID(u), scaleUserGroups(u, p.Groups)[0]
		perm := api.Permission{Product: "bench", Resource: "visible-" + strconv.Itoa(i), Action: "get"}
		require.False(t, idx.Allowed(member, perm.Product, perm.Resource, perm.Action))
		t1 := time.Now()
		_, err := svc.Groups().Grant(ctx, actor, group, perm)
		require.NoError(t, err)
		t2 := time.Now()
		if !idx.Allowed(member, perm.Product, perm.Resource, perm.Action) {
			late++
		}
		for !idx.Allowed(member, perm.Product, perm.Resource, perm.Action) {
			require.Less(t, time.Since(t2), 10*time.Second, "grant not visible")
			runtime.Gosched()
		}
		t3 := time.Now()
		from, post = append(from, t3.Sub(t1)), append(post, t3.Sub(t2))
		_, err = svc.Groups().Revoke(ctx, actor, group, perm)
		require.NoError(t, err)
		require.False(t, idx.Allowed(member, perm.Product, perm.Resource, perm.Action), "revoke not visible")
	}
	slices.Sort(from)
	slices.Sort(post)
	t.Logf("RESULT | group change visible to decisions, in process: grant call start -> Allowed (%d grants) | <= 100 ms | p50 %.2f ms, p99 %.2f ms, max %.1f ms |",
		n, ms(pct(from, 50)), ms(pct(from, 99)), ms(from[n-1]))
	t.Logf("RESULT |   after Grant returned: first decision denied in %d of %d; time to an allowing decision | | p99 %.3f ms, max %.3f ms |",
		late, n, ms(pct(post, 99)), ms(post[n-1]))

	// 5. Writers that do not hash, each on users it owns.
	var r1, r16, ratio []float64
	for range rounds {
		a := scaleServiceWriters(t, svc, p, 1, 5*time.Second)
		b := scaleServiceWriters(t, svc, p, 16, 5*time.Second)
		r1, r16, ratio = append(r1, a), append(r16, b), append(ratio, b/a)
		t.Logf("in process: 1 writer %.0f ops/s, 16 writers %.0f ops/s (%.1fx)", a, b, b/a)
	}
	t.Logf("RESULT | writers in process (service + store, SyncWrites): 1 / 16 | | %s / %s ops/s |", med(r1, "%.0f"), med(r16, "%.0f"))
	t.Logf("RESULT | 16 writers vs 1, in process | >= 4x | %s x |", med(ratio, "%.1f"))
}

func scaleServiceWriters(t *testing.T, svc *directory.Service, p scaleParams, n int, d time.Duration) float64 {
	ctx := context.Background()
	actor := change.Actor{Name: "uid:0", Source: "bench", Admin: true}
	var ops atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range n {
		wg.Go(func() {
			for k := 0; time.Now().Before(stop); k++ {
				i := (w*7919 + (k/3)*104729 + 500_009) % p.Users
				id := scaleUserID(i)
				g := scaleGroupName((i + p.Groups/2) % p.Groups)
				var err error
				switch k % 3 {
				case 0:
					_, err = svc.Groups().AddMember(ctx, actor, g, "user:"+id)
				case 1:
					name := "Bench"
					_, err = svc.Users().UpdateUser(ctx, actor, id, api.UpdateUserRequest{FirstName: &name})
				case 2:
					_, err = svc.Groups().RemoveMember(ctx, actor, g, "user:"+id)
				}
				if !assert.NoError(t, err) {
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(ops.Load()) / time.Since(t0).Seconds()
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// grantBenchRounds is how many grants (and bare commits) the p50s are
// taken over; grantBenchWarmup more of each come first and do not count.
const (
	grantBenchRounds = 400
	grantBenchWarmup = 20
	grantBenchRatio  = 6.0
)

// TestBenchGrant measures one sequential permission grant over the admin
// socket of a real `accessd serve --dev` (POST /v1/groups/{name}/permissions,
// what `accessctl group grant` sends, each a new permission and so a real
// write), against the floor for it on this disk: a bare Badger database,
// SyncWrites on, committing one small transaction per operation, on the
// same file system and in the same run. A grant is about two durable
// commits and a socket round trip, so its p50 must stay within 6 times the
// bare commit's p50. The two are measured alternately, one of each per
// round, so that a busy neighbour on a shared machine slows both. Gated,
// and run by scripts/bench:
//
//	ACCESSD_BENCH_GRANT=1 go test -count=1 -run 'TestBenchGrant$' -v ./cmd/accessd/
func TestBenchGrant(t *testing.T) {
	gated(t, "ACCESSD_BENCH_GRANT", "measure a grant over the admin socket against a bare Badger commit (scripts/bench does)")
	dataDir, sock, _, srv := serveDev(t, "")
	admin := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	send := func(path string, body any) {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		resp, err := admin.Post("http://accessd"+path, "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode/100*100, "%s: %s", path, answer)
	}
	send("/v1/groups", api.CreateGroupRequest{Name: "bench"})

	// The floor: a bare Badger beside the daemon's data dir.
	bareDir := filepath.Join(filepath.Dir(dataDir), "bare")
	require.Equal(t, fileSystemOf(t, filepath.Dir(dataDir)), fileSystemOf(t, dataDir), "the data dir is on the file system of the bare database")
	db, err := badger.Open(badger.DefaultOptions(bareDir).WithSyncWrites(true).WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	commit := func(i int) {
		key := binary.BigEndian.AppendUint64([]byte("bench/"), uint64(i))
		require.NoError(t, db.Update(func(txn *badger.Txn) error {
			return txn.Set(key, []byte(`{"resource":"accounts","action":"get"}`))
		}))
	}

	var grants, bare []time.Duration
	for i := range grantBenchWarmup + grantBenchRounds {
		start := time.Now()
		send("/v1/groups/bench/permissions", api.Permission{Resource: fmt.Sprintf("resource-%04d", i), Action: "get"})
		g := time.Since(start)
		start = time.Now()
		commit(i)
		b := time.Since(start)
		if i >= grantBenchWarmup {
			grants, bare = append(grants, g), append(bare, b)
		}
	}
	// Every grant was a write of its own: the group holds them all.
	resp, err := admin.Get("http://accessd/v1/groups/bench")
	require.NoError(t, err)
	var g api.Group
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&g))
	resp.Body.Close()
	require.Len(t, g.Permissions, grantBenchWarmup+grantBenchRounds)
	srv.stop(t)

	grantP50, bareP50 := grantBenchQuantile(grants, 0.5), grantBenchQuantile(bare, 0.5)
	ratio := float64(grantP50) / float64(bareP50)
	t.Logf("RESULT grant over the admin socket: p50 %s (p90 %s) over %d grants", grantP50.Round(time.Microsecond), grantBenchQuantile(grants, 0.9).Round(time.Microsecond), len(grants))
	t.Logf("RESULT bare Badger commit, SyncWrites, same file system: p50 %s (p90 %s) over %d commits", bareP50.Round(time.Microsecond), grantBenchQuantile(bare, 0.9).Round(time.Microsecond), len(bare))
	t.Logf("RESULT grant / bare commit: %.1f (target <= %.0f)", ratio, grantBenchRatio)
	require.LessOrEqual(t, ratio, grantBenchRatio, "a grant's p50 is over %.0f times a bare Badger commit's", grantBenchRatio)
}

// fileSystemOf is the file system (st_dev) that holds path.
func fileSystemOf(t *testing.T, path string) uint64 {
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	return uint64(st.Dev)
}

// grantBenchQuantile is the q-quantile of d (nearest rank), d left unsorted.
func grantBenchQuantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

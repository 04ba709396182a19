package main

// Issue 9 §2, faults, against the real daemon: a disk that fills up, a
// SIGKILL in the middle of admin writes and token issuance, a TPM that
// goes away. Power loss is in store/powerloss_test.go, clock jumps in
// oauth/directory/clock_test.go and oauth/login/lockout_test.go. Each test says which safety property it
// holds; each was seen to fail with that property switched off by hand.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/seal/sealtest"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// planes reaches a running daemon: the admin plane over its Unix socket,
// the data plane over TLS trusting the dev certificate.
type planes struct {
	admin, data *http.Client
	base        string // https://addr
}

func newPlanes(t *testing.T, sock, certFile, addr string) *planes {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &planes{
		admin: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}},
		data: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		base: "https://" + addr,
	}
}

// call does one admin request and decodes a JSON answer into out (when
// not nil and the status is 2xx); it returns the status and the body.
func (p *planes) call(method, path string, in, out any) (int, string, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, "", err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, "http://accessd"+path, body)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.admin.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, string(b), err
		}
	}
	return resp.StatusCode, string(b), nil
}

// token asks for a client_credentials token (RFC 6749 form, Basic auth).
func (p *planes) token(app api.CreatedApplication) (int, string, error) {
	req, err := http.NewRequest("POST", p.base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(app.ClientSecret))
	resp, err := p.data.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			return resp.StatusCode, "", err
		}
		return resp.StatusCode, out.AccessToken, nil
	}
	return resp.StatusCode, string(b), nil
}

// permissions verifies tok on the data plane (GET /v1/permissions).
func (p *planes) permissions(tok string) (int, error) {
	req, err := http.NewRequest("GET", p.base+"/v1/permissions", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := p.data.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// auditOK runs the audit verifier through the admin plane.
func (p *planes) auditOK(t *testing.T) api.AuditVerify {
	t.Helper()
	var v api.AuditVerify
	code, body, err := p.call("POST", "/v1/audit/verify", nil, &v)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	require.True(t, v.OK, "audit verify: %s", body)
	return v
}

// mountTmpfs mounts a tmpfs of size bytes on a new dir, unmounted when
// the test ends (after the daemons it ran are killed: cleanups run last
// registered first). Without the right to mount, the test is skipped:
// the kernel facility is missing, not the code.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot mount a tmpfs here (%v): the disk-full test needs CAP_SYS_ADMIN (scripts/test runs as root)", err)
		}
		require.NoError(t, err, "mount tmpfs")
	}
	t.Cleanup(func() {
		assert.NoError(t, unix.Unmount(dir, unix.MNT_DETACH), "unmount %s", dir)
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	return int64(st.Bavail) * st.Bsize
}

// fillTo makes ballast hold enough that dir has about left bytes free.
func fillTo(t *testing.T, ballast string, left int64) {
	t.Helper()
	cur := int64(0)
	if fi, err := os.Stat(ballast); err == nil {
		cur = fi.Size()
	}
	n := cur + freeBytes(t, filepath.Dir(ballast)) - left
	require.Greater(t, n, int64(0))
	f, err := os.OpenFile(ballast, os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(0))
	require.NoError(t, unix.Fallocate(int(f.Fd()), 0, 0, n))
}

// TestDiskFull holds [store] min_free on a 64 MiB tmpfs: below min_free
// (16 MiB) writes are refused with 503 naming the fix while reads, token
// issuance and token verification go on; writes resume by themselves
// when the space comes back; below the floor (a quarter of min_free) the
// daemon stops with exit 7, the store closed cleanly, and the next start
// has every write that was acknowledged and an audit chain that verifies.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 64<<20)
	d := filepath.Join(mnt, "data")
	args, sock, addr := devConfig(t, d, "[store]\nmin_free = \"16MiB\"\n")
	s := startServe(t, 90*time.Second, args...)
	p := newPlanes(t, sock, filepath.Join(d, "tls", "server.crt"), addr)

	var app api.CreatedApplication
	code, body, err := p.call("POST", "/v1/applications", api.CreateApplicationRequest{Name: "disk-app"}, &app)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, body)
	var acked []string // IDs of users whose creation was acknowledged
	n := 0
	create := func() (int, string) {
		n++
		var u api.CreatedUser
		code, body, err := p.call("POST", "/v1/users", api.CreateUserRequest{Username: fmt.Sprintf("disk-%d", n), Email: fmt.Sprintf("disk-%d@example.test", n)}, &u)
		require.NoError(t, err)
		if code == http.StatusCreated {
			acked = append(acked, u.ID)
		}
		return code, body
	}
	code, body = create()
	require.Equal(t, http.StatusCreated, code, body)

	// Below min_free, above the floor: writes 503, the rest goes on.
	ballast := filepath.Join(mnt, "ballast")
	fillTo(t, ballast, 10<<20)
	var refused string
	testkit.Eventually(t, 5*time.Second, "writes refused below min_free", func() bool {
		code, body := create()
		refused = body
		return code == http.StatusServiceUnavailable
	})
	require.Contains(t, refused, "disk nearly full")
	require.Contains(t, refused, "min_free is 16.0MiB")
	require.Contains(t, refused, "AUT-0503")
	for _, id := range acked {
		code, body, err := p.call("GET", "/v1/users/"+id, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "read while writes are refused: %s", body)
	}
	code, tok, err := p.token(app)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "token issuance while writes are refused: %s", tok)
	code, err = p.permissions(tok)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "token verification while writes are refused")
	require.Contains(t, s.stderr.String(), `"event":"store.disk_full"`)

	// Space back: writes resume without a restart.
	require.NoError(t, os.Remove(ballast))
	testkit.Eventually(t, 5*time.Second, "writes resume when space returns", func() bool {
		code, _ := create()
		return code == http.StatusCreated
	})
	require.Contains(t, s.stderr.String(), `"event":"store.disk_ok"`)

	// Below the floor: a clean stop with exit code 7.
	fillTo(t, ballast, 2<<20)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, s.stderr.String())
		require.Equal(t, exitDisk, ee.ExitCode(), s.stderr.String())
	case <-time.After(15 * time.Second):
		require.Fail(t, "serve kept running below the floor", s.stderr.String())
	}
	require.Contains(t, s.stderr.String(), "hard free-space floor")
	require.Contains(t, s.stderr.String(), `"event":"daemon.stopped"`, "the store was closed cleanly")

	// Still below the floor: the start is refused before the store opens.
	r := runAccessd(t, append([]string{"serve"}, args...)...)
	require.Equal(t, exitDisk, r.code, r.stderr)

	// Space back: every acknowledged write is there.
	require.NoError(t, os.Remove(ballast))
	s = startServe(t, 90*time.Second, args...)
	for _, id := range acked {
		code, body, err := p.call("GET", "/v1/users/"+id, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "acknowledged user %s after the floor stop: %s", id, body)
	}
	p.auditOK(t)
	require.NotContains(t, s.stderr.String(), "store.vlog_repaired")
	s.stop(t)
	t.Logf("REPORT %d acknowledged writes survived the floor stop", len(acked))
}

// TestKillDuringBurst SIGKILLs the real daemon 20 times in the middle of
// a burst of admin writes (users created, groups created and joined) and
// token issuance, at a random moment. After each restart every write the
// admin plane acknowledged (a 2xx answer received before the kill) is
// there, the store opened without repairing anything, the audit chain
// verifies, and a token issued before the kill still verifies.
func TestKillDuringBurst(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts the daemon 21 times")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0xb0057))
	d := filepath.Join(t.TempDir(), "data")
	args, sock, addr := devConfig(t, d, "")
	s := startServe(t, 90*time.Second, args...)
	p := newPlanes(t, sock, filepath.Join(d, "tls", "server.crt"), addr)
	var app api.CreatedApplication
	code, body, err := p.call("POST", "/v1/applications", api.CreateApplicationRequest{Name: "burst-app"}, &app)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, body)

	var (
		mu     sync.Mutex
		users  []string // IDs of acknowledged user creations
		groups []string // names of acknowledged groups
		joined []string // "group user" of acknowledged memberships
		tokens []string // one token issued before each kill
		issued int
	)
	const rounds = 20
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 3 { // admin writers
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					name := fmt.Sprintf("burst-%d-%d-%d", round, w, i)
					var u api.CreatedUser
					code, _, err := p.call("POST", "/v1/users", api.CreateUserRequest{Username: name, Email: name + "@example.test"}, &u)
					if err != nil || code != http.StatusCreated {
						return // the kill
					}
					mu.Lock()
					users = append(users, u.ID)
					mu.Unlock()
					if i%2 == 1 {
						continue
					}
					code, _, err = p.call("POST", "/v1/groups", api.CreateGroupRequest{Name: name}, nil)
					if err != nil || code != http.StatusCreated {
						return
					}
					mu.Lock()
					groups = append(groups, name)
					mu.Unlock()
					code, _, err = p.call("POST", "/v1/groups/"+name+"/members", api.MemberRequest{Member: name}, nil)
					if err != nil || code != http.StatusOK {
						return
					}
					mu.Lock()
					joined = append(joined, name)
					mu.Unlock()
				}
			})
		}
		for range 2 { // token issuance
			wg.Go(func() {
				for ctx.Err() == nil {
					code, tok, err := p.token(app)
					if err != nil || code != http.StatusOK {
						return
					}
					mu.Lock()
					issued++
					if len(tokens) == round {
						tokens = append(tokens, tok)
					}
					mu.Unlock()
				}
			})
		}
		// Kill at a random moment after the round's first acknowledged
		// write, so every round has writes in flight and some to check
		// (under -race a user takes a while: its password is hashed).
		mu.Lock()
		before := len(users)
		mu.Unlock()
		testkit.Eventually(t, 30*time.Second, fmt.Sprintf("round %d: a write acknowledged", round), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(users) > before
		})
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
		_ = s.cmd.Wait()
		cancel()
		wg.Wait()

		s = startServe(t, 90*time.Second, args...)
		require.NotContains(t, s.stderr.String(), "store.vlog_repaired", "round %d: the store needed a repair", round)
		mu.Lock()
		for _, id := range users {
			code, body, err := p.call("GET", "/v1/users/"+id, nil, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, "round %d: acknowledged user %s lost: %s", round, id, body)
		}
		for _, g := range groups {
			code, body, err := p.call("GET", "/v1/groups/"+g, nil, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, "round %d: acknowledged group %s lost: %s", round, g, body)
		}
		for _, g := range joined {
			var members []api.Member
			code, body, err := p.call("GET", "/v1/groups/"+g+"/members", nil, &members)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, body)
			require.NotEmpty(t, members, "round %d: acknowledged membership in %s lost", round, g)
		}
		for i, tok := range tokens {
			code, err := p.permissions(tok)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, "round %d: token issued before kill %d no longer verifies", round, i)
		}
		mu.Unlock()
		p.auditOK(t)
	}
	s.stop(t)
	require.GreaterOrEqual(t, len(users), rounds, "too few acknowledged writes to prove anything")
	t.Logf("REPORT %d kills: %d users, %d groups, %d memberships acknowledged and kept; %d tokens issued", rounds, len(users), len(groups), len(joined), issued)
}

// TestTPMFaultsWithSwtpm runs production serve on swtpm and takes the TPM
// away: gone at start is exit 5 with a message that says which TPM and
// what to check; gone while running, the service that already unsealed
// keeps issuing and checking tokens and answering the admin plane, and
// the next start says what is wrong (exit 5); back, with PCR 7 extended
// behind the key's back, serve refuses naming PCR 7 and `accessd
// recover`. (A PCR change planned with `accessd reseal --pcr-values` is
// TestPlannedPCRChangeWithSwtpm; a TPM replaced by another is
// TestProductionPathWithSwtpm.)
func TestTPMFaultsWithSwtpm(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	state := t.TempDir()
	tpm := sealtest.StartSwtpm(t, state, port)
	tmp := t.TempDir()
	cfgFile, sock := swtpmConfig(t, tmp, port)
	cfg, err := os.ReadFile(cfgFile)
	require.NoError(t, err)
	addr := regexp.MustCompile(`(?m)^tls = "([^"]+)"`).FindSubmatch(cfg)[1]
	r := runAccessd(t, "init", "--config", cfgFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PCRs [7]")

	// Gone at start.
	tpm.Stop()
	r = serveRefused(t, "--config", cfgFile)
	require.Equal(t, exitTPM, r.code, r.stderr)
	require.Contains(t, r.stderr, "no TPM found")
	require.Contains(t, r.stderr, fmt.Sprintf("tcp://127.0.0.1:%d", port))
	require.Contains(t, r.stderr, "is swtpm running?")

	// Back: serves. Then gone while running.
	tpm = sealtest.StartSwtpm(t, state, port)
	s := startServe(t, 60*time.Second, "--config", cfgFile)
	p := newPlanes(t, sock, filepath.Join(tmp, "server.crt"), string(addr))
	var app api.CreatedApplication
	code, body, err := p.call("POST", "/v1/applications", api.CreateApplicationRequest{Name: "tpm-app"}, &app)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, body)
	tpm.Stop()
	code, tok, err := p.token(app)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "token issuance without the TPM: %s", tok)
	code, err = p.permissions(tok)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "token verification without the TPM")
	code, body, err = p.call("GET", "/v1/applications/"+app.ID, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "admin read without the TPM: %s", body)
	code, body, err = p.call("POST", "/v1/users", api.CreateUserRequest{Username: "while-tpm-gone", Email: "t@example.test"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, "admin write without the TPM: %s", body)
	s.stop(t)
	require.Contains(t, s.stderr.String(), `"event":"seal.rollback_stop_error"`, "the stop says the counter could not advance")

	r = serveRefused(t, "--config", cfgFile)
	require.Equal(t, exitTPM, r.code, r.stderr)
	require.Contains(t, r.stderr, "no TPM found")

	// Back, with PCR 7 changed: refused, naming the PCR and the fix.
	tpm = sealtest.StartSwtpm(t, state, port)
	tpmTool(t, port, "tpm2_pcrextend", "7:sha256="+strings.Repeat("ab", 32))
	r = serveRefused(t, "--config", cfgFile)
	require.NotEqual(t, 0, r.code)
	require.NotEqual(t, exitTPM, r.code, "a PCR change is not a TPM that a restart brings back")
	require.Contains(t, r.stderr, "PCR 7 changed since sealing")
	require.Contains(t, r.stderr, "accessd recover --recovery-key-file")
}

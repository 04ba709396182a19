package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/daemontest"
)

func TestPeerPolicy(t *testing.T) {
	groups := map[uint32][]string{1001: {"1001", "990"}, 1002: {"1002"}}
	p := peerPolicy{selfUID: 500, adminGID: 990, groupsOf: func(uid uint32) ([]string, error) {
		if g, ok := groups[uid]; ok {
			return g, nil
		}
		return nil, errors.New("no such user")
	}}
	tests := []struct {
		name string
		peer Peer
		want bool
	}{
		{"root", Peer{UID: 0, GID: 0}, true},
		{"daemon's own user", Peer{UID: 500, GID: 500}, true},
		{"primary group is admin", Peer{UID: 1003, GID: 990}, true},
		{"supplementary admin member", Peer{UID: 1001, GID: 1001}, true},
		{"outsider", Peer{UID: 1002, GID: 1002}, false},
		{"unknown user", Peer{UID: 4242, GID: 4242}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := p.allows(tt.peer)
			require.Equal(t, tt.want, ok, why)
			if !ok {
				require.NotEmpty(t, why)
			}
		})
	}
	noGroup := p
	noGroup.adminGID = -1
	ok, _ := noGroup.allows(Peer{UID: 1001, GID: 990})
	require.False(t, ok, "without an admin group only root and self pass")
}

// TestAdminSocketPeerCheck connects through a real socket as other users,
// with real credentials: the kernel's account of the peer decides, whatever
// the file mode says.
func TestAdminSocketPeerCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as other uids")
	}
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is installed by scripts/test")
	// Groups every Debian system has: "daemon" (gid 1) stands in for the
	// admin group; nobody (65534) is not in it in the account database.
	const adminGroup = "daemon"
	require.Equal(t, 1, lookupGroup(adminGroup))

	sock := filepath.Join(daemontest.OpenDir(t), "admin.sock")
	raw, err := listenAdmin(sock, adminGroup, slog.Default())
	require.NoError(t, err)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o660), fi.Mode().Perm())
	require.Equal(t, uint32(1), fi.Sys().(*syscall.Stat_t).Gid, "socket belongs to the admin group")

	var logs daemontest.SyncBuffer
	var refused atomic.Int32
	l := &peerListener{Listener: raw, allow: newPeerPolicy(adminGroup).allows,
		log: slog.New(slog.NewJSONHandler(&logs, nil)), onRefuse: func() { refused.Add(1) }}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret admin data")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	// Whatever the file mode says, the peer check decides.
	require.NoError(t, os.Chmod(sock, 0o666))

	tests := []struct {
		name string
		cred *syscall.Credential
		want string
	}{
		{"root", nil, "200"},
		{"outsider", &syscall.Credential{Uid: 65534, Gid: 65534}, "403"},
		{"outsider with other groups", &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{2, 3}}, "403"},
		{"primary group is admin", &syscall.Credential{Uid: 65534, Gid: 1}, "200"},
		// Only SO_PEERGROUPS knows this one: the account database does not
		// list nobody in group daemon.
		{"supplementary admin group", &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{1}}, "200"},
	}
	// And as an operator would try it: setpriv(1) drops root to nobody with
	// no supplementary groups, on the 0666 socket.
	wantRefused := int32(7)
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		wantRefused++
		out, err := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
			curl, "-sS", "-w", "\n%{http_code}", "--unix-socket", sock, "-X", "POST", "-d", `{"username":"x"}`, "http://accessd/v1/users").CombinedOutput()
		require.NoError(t, err, string(out))
		require.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), "403"), string(out))
		require.NotContains(t, string(out), "secret admin data")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "--unix-socket", sock, "http://accessd/")
			if tt.cred != nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: tt.cred}
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			require.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), tt.want), string(out))
			if tt.want == "403" {
				require.NotContains(t, string(out), "secret admin data")
				require.Contains(t, string(out), "admin group")
			} else {
				require.Contains(t, string(out), "secret admin data")
			}
		})
	}
	// A refused peer that sends a body still gets the 403. (curl reads an
	// early answer even when its send fails, so this passes without the
	// refusal's drain too; Go's client does not, see accessctl's
	// TestRefusedPeer.)
	body := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(body, bytes.Repeat([]byte("x"), 512<<10), 0o644))
	for i := range 5 {
		cmd := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "--unix-socket", sock, "-H", "Expect:", "--data-binary", "@"+body, "http://accessd/v1/users")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "try %d: %s", i, out)
		require.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), "403"), "try %d: %s", i, out)
	}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"uid":65534`) }, 2*time.Second, 20*time.Millisecond)
	require.Contains(t, logs.String(), "admin connection refused")
	require.Equal(t, wantRefused, refused.Load(), "every refusal is counted")
}

func TestRefusalsAreBounded(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	raw, err := listenAdmin(sock, "accessd-admin-test-nonexistent", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	// A policy that refuses everyone, the test process included.
	l := &peerListener{Listener: raw, allow: func(Peer) (bool, string) { return false, "test" },
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	// Hold 40 silent connections open: at most maxRefusing are answered
	// (each waits up to a second for a request head), the rest are hung up
	// at once instead of each costing a goroutine and a buffer.
	var conns []net.Conn
	for range 40 {
		c, err := net.Dial("unix", sock)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	hungUp := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(make([]byte, 1))
		if n == 0 && err == io.EOF {
			hungUp++
		}
		c.Close()
	}
	require.GreaterOrEqual(t, hungUp, 40-maxRefusing, "connections past the bound are closed at once")
}

func TestListenAdminStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")

	// A live socket is not stolen.
	live, err := net.Listen("unix", sock)
	require.NoError(t, err)
	_, err = listenAdmin(sock, "accessd-admin", slog.Default())
	require.ErrorContains(t, err, "in use")
	live.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, live.Close())

	// A dead one (file left behind, nothing answering) is replaced.
	_, err = os.Stat(sock)
	require.NoError(t, err, "stale socket file should be left behind")
	l, err := listenAdmin(sock, "accessd-admin", slog.Default())
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// A regular file is never removed.
	require.NoError(t, os.WriteFile(sock, []byte("x"), 0o600))
	_, err = listenAdmin(sock, "accessd-admin", slog.Default())
	require.ErrorContains(t, err, "not a socket")
}

// flakyListener fails its first Accept calls with EMFILE, as a process out
// of file descriptors sees, then hands out real connections.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}

func TestAdminSurvivesTemporaryAcceptErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	raw, err := listenAdmin(sock, "accessd-admin-test-nonexistent", quiet)
	require.NoError(t, err)
	flaky := &flakyListener{Listener: raw}
	flaky.failures.Store(3)
	l := &peerListener{Listener: flaky, allow: func(Peer) (bool, string) { return true, "" }, log: quiet}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://accessd/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "served after the EMFILE burst")

	// Close still ends Serve.
	require.NoError(t, srv.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, http.ErrServerClosed)
	case <-time.After(5 * time.Second):
		require.Fail(t, "Serve did not return after Close")
	}
}

// TestRefusalLogIsRateLimited: a local user connecting in a loop cannot
// flood the journal. Each refusal is counted; the log gets a burst, then
// one line per interval, and the next line says how many were dropped.
func TestRefusalLogIsRateLimited(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	raw, err := listenAdmin(sock, "accessd-admin-test-nonexistent", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	var logs daemontest.SyncBuffer
	var refused atomic.Int32
	const burst, every = 5, 300 * time.Millisecond
	l := &peerListener{Listener: raw, allow: func(Peer) (bool, string) { return false, "test" },
		log: slog.New(slog.NewJSONHandler(&logs, nil)), onRefuse: func() { refused.Add(1) },
		logs: newLogLimiter(burst, every)}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	flood := func(n int) {
		for range n {
			c, err := net.Dial("unix", sock)
			require.NoError(t, err)
			c.Close()
		}
	}
	const n = 300
	start := time.Now()
	flood(n)
	require.Eventually(t, func() bool { return refused.Load() == n }, 5*time.Second, 10*time.Millisecond, "the metric counts every refusal")
	lines := func() (count int, dropped int) {
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var e struct {
				Event   string `json:"event"`
				Dropped int    `json:"dropped"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &e), line)
			if e.Event == "admin.refused" {
				count++
				dropped += e.Dropped
			}
		}
		return count, dropped
	}
	got, _ := lines()
	bound := burst + int(time.Since(start)/every) + 1
	require.LessOrEqual(t, got, bound, "a flood of %d refusals is logged in a bounded number of lines", n)
	require.Positive(t, got)

	// When logging resumes, the line says how many were dropped: every
	// refusal is either a line or counted in one.
	time.Sleep(every + 50*time.Millisecond)
	flood(1)
	require.Eventually(t, func() bool {
		count, dropped := lines()
		return count+dropped == n+1
	}, 2*time.Second, 10*time.Millisecond, "lines plus dropped = refusals; log:\n%s", logs.String())
}

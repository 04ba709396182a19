package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/daemontest"
)

func TestWatchdogPingsAtHalfInterval(t *testing.T) {
	path, ch := daemontest.NotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000") // 200 ms: pings every 100 ms
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	ctx, cancel := context.WithTimeout(context.Background(), 450*time.Millisecond)
	defer cancel()
	notifier{log: slog.Default()}.watchdog(ctx)
	pings := 0
	for len(ch) > 0 {
		if <-ch == "WATCHDOG=1" {
			pings++
		}
	}
	// About 4 expected; the bounds leave room for a loaded machine while
	// still telling "every half interval" from "once" or "in a busy loop".
	require.GreaterOrEqual(t, pings, 2, "expected a ping every 100 ms for 450 ms")
	require.LessOrEqual(t, pings, 6)
}

func TestWatchdogOffWithoutEnv(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	done := make(chan struct{})
	go func() {
		notifier{log: slog.Default()}.watchdog(t.Context())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		require.Fail(t, "watchdog should return at once when systemd set none")
	}
}

// TestSocketActivation re-executes the test binary with two listening
// sockets in ExtraFiles (fds 3 and 4) and LISTEN_FDS, as systemd does, and
// checks that the daemon takes them instead of binding its own, and that
// it refuses an admin socket whose path, mode or group differ from the
// config.
func TestSocketActivation(t *testing.T) {
	self, err := user.LookupGroupId(fmt.Sprint(os.Getgid()))
	require.NoError(t, err)
	tests := []struct {
		name    string
		mode    os.FileMode
		cfgPath func(sock string) string
		group   string
		wantErr string // "" = taken
	}{
		{name: "matches", mode: 0o660, group: self.Name},
		{name: "other path", mode: 0o660, group: self.Name, cfgPath: func(string) string { return "/run/accessd/elsewhere.sock" }, wantErr: "listen.admin_socket is /run/accessd/elsewhere.sock"},
		{name: "world-writable", mode: 0o666, group: self.Name, wantErr: "mode 0666, want 0660"},
		{name: "other group", mode: 0o660, group: "accessd-test-other", wantErr: "not to listen.admin_group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := tt.group
			if group == "accessd-test-other" {
				// A group that exists and that the socket does not belong to.
				other := "daemon"
				if self.Name == other {
					other = "bin"
				}
				group = other
			}
			out, err := runActivated(t, tt.mode, group, tt.cfgPath)
			if tt.wantErr != "" {
				require.Error(t, err, string(out))
				require.Contains(t, string(out), tt.wantErr)
				return
			}
			require.NoError(t, err, string(out))
		})
	}
}

// runActivated runs TestSocketActivationChild with a TCP and a Unix
// listener passed as systemd passes them, and returns its output.
func runActivated(t *testing.T, mode os.FileMode, group string, cfgPath func(string) string) ([]byte, error) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcp.Close()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	unix, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer unix.Close()
	require.NoError(t, os.Chmod(sock, mode))
	tf, err := tcp.(*net.TCPListener).File()
	require.NoError(t, err)
	uf, err := unix.(*net.UnixListener).File()
	require.NoError(t, err)
	cfgSock := sock
	if cfgPath != nil {
		cfgSock = cfgPath(sock)
	}

	// LISTEN_PID must be the child's own pid, which only the child knows:
	// a shell sets it and execs, as systemd's own test tools do.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -test.run='^TestSocketActivationChild$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "ACCESSD_ACTIVATION_CHILD=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=tls:admin",
		"ACCESSD_CHILD_ADMIN="+cfgSock, "ACCESSD_CHILD_GROUP="+group)
	cmd.ExtraFiles = []*os.File{tf, uf}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, err
	}
	var got []struct {
		Plane, Address string
		Activated      bool
	}
	line := out
	if i := strings.Index(string(out), "LISTENERS "); i >= 0 {
		line = []byte(strings.SplitN(string(out[i+len("LISTENERS "):]), "\n", 2)[0])
	}
	require.NoError(t, json.Unmarshal(line, &got), string(out))
	require.Len(t, got, 2)
	require.Equal(t, tcp.Addr().String(), got[0].Address)
	require.True(t, got[0].Activated)
	require.Equal(t, sock, got[1].Address)
	require.True(t, got[1].Activated)
	return out, nil
}

func TestSocketActivationChild(t *testing.T) {
	if os.Getenv("ACCESSD_ACTIVATION_CHILD") != "1" {
		t.Skip("helper process for TestSocketActivation")
	}
	cfg := Default()
	cfg.Listen.TLS = "192.0.2.1:1" // TEST-NET-1, not on this host: binding it would fail
	cfg.Listen.AdminSocket = os.Getenv("ACCESSD_CHILD_ADMIN")
	cfg.Listen.AdminGroup = os.Getenv("ACCESSD_CHILD_GROUP")
	l, err := bindListeners(cfg, slog.Default(), newMetrics(nil))
	require.NoError(t, err)
	defer l.close()
	require.Empty(t, os.Getenv("LISTEN_FDS"), "activation variables must be unset")
	_, wrapped := l.admin.(*peerListener)
	require.True(t, wrapped, "an activated admin socket gets the peer check too")
	b, _ := json.Marshal(l.describe())
	fmt.Printf("LISTENERS %s\n", b)
}

// TestAdminSocketDirIsTraversable: a directory listenAdmin creates is
// 0755 (DESIGN §4) even under accessd's 0077 umask, so admin-group members
// reach the 0660 socket in it.
func TestAdminSocketDirIsTraversable(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	sock := filepath.Join(t.TempDir(), "run", "accessd", "admin.sock")
	l, err := listenAdmin(sock, "accessd-admin-test-nonexistent", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer l.Close()
	fi, err := os.Stat(filepath.Dir(sock))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
}

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		t.Fatal("watchdog should return at once when systemd set none")
	}
}

// TestSocketActivation re-executes the test binary with two listening
// sockets in ExtraFiles (fds 3 and 4) and LISTEN_FDS, as systemd does, and
// checks that the daemon takes them instead of binding its own.
func TestSocketActivation(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcp.Close()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	unix, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer unix.Close()
	tf, err := tcp.(*net.TCPListener).File()
	require.NoError(t, err)
	uf, err := unix.(*net.UnixListener).File()
	require.NoError(t, err)

	// LISTEN_PID must be the child's own pid, which only the child knows:
	// a shell sets it and execs, as systemd's own test tools do.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -test.run='^TestSocketActivationChild$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "ACCESSD_ACTIVATION_CHILD=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=tls:admin",
		"ACCESSD_CHILD_ADMIN="+filepath.Join(t.TempDir(), "unused.sock"))
	cmd.ExtraFiles = []*os.File{tf, uf}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
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
}

func TestSocketActivationChild(t *testing.T) {
	if os.Getenv("ACCESSD_ACTIVATION_CHILD") != "1" {
		t.Skip("helper process for TestSocketActivation")
	}
	cfg := Default()
	cfg.Listen.TLS = "192.0.2.1:1" // TEST-NET-1, not on this host: binding it would fail
	cfg.Listen.AdminSocket = os.Getenv("ACCESSD_CHILD_ADMIN")
	l, err := bindListeners(cfg, slog.Default(), newMetrics(nil))
	require.NoError(t, err)
	defer l.close()
	require.Empty(t, os.Getenv("LISTEN_FDS"), "activation variables must be unset")
	_, wrapped := l.admin.(*peerListener)
	require.True(t, wrapped, "an activated admin socket gets the peer check too")
	b, _ := json.Marshal(l.describe())
	fmt.Printf("LISTENERS %s\n", b)
}

// Package daemontest holds the helpers the daemon's and the accessd
// command's tests share: a log sink safe to read while a child writes to
// it, free loopback ports, a real NOTIFY_SOCKET and a way to open a temp
// dir to other users. They used to be copied into each test package.
// Golden files are store/storetest/testkit.Golden's.
//
// Packages below daemon (seal, store) keep their own: nothing there may
// import daemon. seal's swtpm starter is seal/sealtest.StartSwtpm.
package daemontest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SyncBuffer collects output written by other goroutines or a child
// process while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a listen address.
func FreeAddr(t testing.TB) string { return fmt.Sprintf("127.0.0.1:%d", FreePort(t)) }

// NotifySocket listens on a real unixgram socket as systemd does for
// NOTIFY_SOCKET, and returns its path and everything sent to it. The
// channel is closed when the test ends.
func NotifySocket(t testing.TB) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

// WaitFor waits up to d for a notification containing want.
func WaitFor(t testing.TB, ch <-chan string, want string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-ch:
			require.True(t, ok, "NOTIFY_SOCKET closed before %q", want)
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			require.Fail(t, fmt.Sprintf("no %q on NOTIFY_SOCKET within %s", want, d))
		}
	}
}

// OpenDir is a temp dir that other users can traverse, so a refusal on a
// socket inside it comes from the peer check, not from the file system.
func OpenDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	return dir
}

package daemon

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// openDir makes a temp dir that other users can traverse, so the test can
// show that the peer check, not the file system, refuses them.
func openDir(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	return dir
}

func TestAdminSocketRefusesOutsiderEvenWhenWorldWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another uid")
	}
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is installed by scripts/test")
	sock := filepath.Join(openDir(t), "admin.sock")
	raw, err := listenAdmin(sock, "accessd-admin-test-nonexistent")
	require.NoError(t, err)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o660), fi.Mode().Perm())

	var logs bytes.Buffer
	l := &peerListener{Listener: raw, policy: newPeerPolicy("accessd-admin-test-nonexistent"),
		log: slog.New(slog.NewJSONHandler(&logs, nil))}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret admin data")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	// Whatever the file mode says, the peer check decides.
	require.NoError(t, os.Chmod(sock, 0o666))

	// root passes.
	out, err := exec.Command(curl, "-sS", "--unix-socket", sock, "http://accessd/").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, "secret admin data", string(out))

	// nobody is refused with a 403 and a hint, and the refusal is logged.
	cmd := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "--unix-socket", sock, "http://accessd/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.NotContains(t, string(out), "secret admin data")
	require.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), "403"), string(out))
	require.Contains(t, string(out), "admin group")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"uid":65534`) }, 2*time.Second, 20*time.Millisecond)
	require.Contains(t, logs.String(), "admin connection refused")
}

func TestListenAdminStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")

	// A live socket is not stolen.
	live, err := net.Listen("unix", sock)
	require.NoError(t, err)
	_, err = listenAdmin(sock, "accessd-admin")
	require.ErrorContains(t, err, "in use")
	live.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, live.Close())

	// A dead one (file left behind, nothing answering) is replaced.
	_, err = os.Stat(sock)
	require.NoError(t, err, "stale socket file should be left behind")
	l, err := listenAdmin(sock, "accessd-admin")
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// A regular file is never removed.
	require.NoError(t, os.WriteFile(sock, []byte("x"), 0o600))
	_, err = listenAdmin(sock, "accessd-admin")
	require.ErrorContains(t, err, "not a socket")
}

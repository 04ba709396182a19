package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// backupServer answers GET /v1/backup on a real Unix socket with body,
// or breaks the connection after half of it when broken is set.
func backupServer(t *testing.T, body []byte, broken bool) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "GET /v1/backup", r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/octet-stream")
		if broken {
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func runCtl(t *testing.T, sock string, stdout io.Writer, args ...string) (code int, stderr string) {
	t.Helper()
	var errb bytes.Buffer
	e := testEnv("", nil, &errb)
	e.stdout = stdout
	e.getenv = func(k string) string {
		if k == "ACCESSD_SOCKET" {
			return sock
		}
		return ""
	}
	return run(args, e), errb.String()
}

func TestBackupToFile(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("ACCESSD-BACKUP\n\x01binary\x00"), 50000)
	sock := backupServer(t, body, false)
	dir := t.TempDir()
	file := filepath.Join(dir, "a.backup")
	var out bytes.Buffer
	code, stderr := runCtl(t, sock, &out, "backup", "-f", file)
	require.Equal(t, 0, code, stderr)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, body, got)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Contains(t, out.String(), "accessd restore --backup "+file)
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1, "no partial file left beside it")

	// A second backup to the same name is refused; the first stays.
	code, stderr = runCtl(t, sock, &out, "backup", "-f", file)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "exists")

	// To stdout when it is not a terminal.
	out.Reset()
	code, stderr = runCtl(t, sock, &out, "backup")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, body, out.Bytes())
	require.Contains(t, stderr, "written to stdout")
}

// A transfer the daemon breaks off fails and leaves no file behind.
func TestBackupBrokenTransferLeavesNothing(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("x"), 1<<20)
	sock := backupServer(t, body, true)
	dir := t.TempDir()
	code, stderr := runCtl(t, sock, io.Discard, "backup", "-f", filepath.Join(dir, "b.backup"))
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "backup transfer failed")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

// Binary never goes to a terminal.
func TestBackupRefusesTerminal(t *testing.T) {
	t.Parallel()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	require.True(t, isTerminal(ptmx))
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer null.Close()
	require.False(t, isTerminal(null), "/dev/null is not a terminal")
	code, stderr := runCtl(t, filepath.Join(t.TempDir(), "unused.sock"), ptmx, "backup")
	require.Equal(t, exitUsage, code)
	require.True(t, strings.Contains(stderr, "terminal"), stderr)
}

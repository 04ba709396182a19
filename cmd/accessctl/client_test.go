package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGarbageAnswers runs every golden command against answers that are
// not what the api promises. Decoding must fail cleanly: exit 1, nothing
// on stdout, never a panic.
func TestGarbageAnswers(t *testing.T) {
	t.Parallel()
	// Not an answer to any command: not JSON, or not an object or list.
	garbage := []string{
		"",
		"null",
		"not json",
		"{",
		"[1,2",
		`"a string"`,
		"12",
		"true",
		`{"id": {"nested": [}}`,
		`{"x":1} {"y":2}`,
		"\x00\xff\xfe" + strings.Repeat("[", 10000),
	}
	// JSON that some commands can read (unknown fields are allowed, so
	// that a newer daemon can add some) and others cannot: only "no
	// panic, no half-printed output" holds for all.
	wrongShape := []string{
		`{"items": "not a list", "page": "one"}`,
		`[{"seq": -1, "time": "yesterday"}]`,
		`{"ok": "yes", "entries": "many"}`,
		`{"users": {}, "links": 5}`,
		`[{"permissions": "all"}]`,
	}
	seen := map[string]bool{}
	for _, tc := range goldenCases() {
		answered := tc.status == 0 || (tc.status/100 == 2 && tc.status != http.StatusNoContent)
		if tc.want == "" || !answered || seen[tc.want] {
			continue // refused before the call, an error case, no answer body to decode, or a route already done
		}
		seen[tc.want] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAdmin(t) // one per route: the routes run at once
			garbageAnswers(t, fake, tc, garbage, wrongShape)
		})
	}
}

// garbageAnswers runs tc against each garbage answer (exit 1, nothing on
// stdout) and each wrong shape (no panic, no half-printed output).
func garbageAnswers(t *testing.T, fake *fakeAdmin, tc cliCase, garbage, wrongShape []string) {
	for i, g := range garbage {
		for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
			fake.answer(t, status, g)
			var out, errb bytes.Buffer
			e := testEnv(tc.stdin, &out, &errb)
			e.getenv = func(string) string { return fake.sock }
			code := run(append([]string{"-o", "json"}, tc.args...), e)
			require.Equal(t, exitError, code, "%s, garbage %d, HTTP %d: %s", tc.name, i, status, errb.String())
			require.Empty(t, out.String(), "%s, garbage %d", tc.name, i)
			require.Contains(t, errb.String(), "accessctl: ")
		}
	}
	for i, g := range wrongShape {
		fake.answer(t, http.StatusOK, g)
		var out, errb bytes.Buffer
		e := testEnv(tc.stdin, &out, &errb)
		e.getenv = func(string) string { return fake.sock }
		code := run(append([]string{"-o", "json"}, tc.args...), e)
		require.Contains(t, []int{exitOK, exitError}, code, "%s, shape %d: %s", tc.name, i, errb.String())
		if code == exitError && !strings.HasPrefix(tc.name, "audit-verify") {
			require.Empty(t, out.String(), "%s, shape %d", tc.name, i)
		}
	}
}

func TestGarbageAnswerNamesTheProblem(t *testing.T) {
	t.Parallel()
	fake := newFakeAdmin(t)
	fake.answer(t, http.StatusOK, `{"items": "not a list"}`)
	var out, errb bytes.Buffer
	e := testEnv("", &out, &errb)
	e.getenv = func(string) string { return fake.sock }
	require.Equal(t, exitError, run([]string{"user", "list"}, e))
	require.Contains(t, errb.String(), "cannot read the answer of accessd to GET /v1/users (HTTP 200)")
	require.Contains(t, errb.String(), "hint: accessd and accessctl may be of different versions")
}

// TestSocketPermissionDenied connects as a user who may not open the
// socket. Root may open anything, so under root (scripts/test) the
// classification is checked on the error the kernel gives, below.
func TestSocketPermissionDenied(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root bypasses socket permissions; TestDialErrors covers EACCES")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, os.Chmod(sock, 0))
	var out, errb bytes.Buffer
	require.Equal(t, exitNoPerm, run([]string{"--socket", sock, "status"}, testEnv("", &out, &errb)))
	require.Contains(t, errb.String(), "permission denied")
	require.Contains(t, errb.String(), "accessd-admin")
}

// TestDialErrors checks the exit status for each way connect(2) fails on
// a Unix socket, with the errors the kernel returns.
func TestDialErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		errno syscall.Errno
		code  int
		hint  string
	}{
		{"no socket file", syscall.ENOENT, exitUnavailable, "systemctl status accessd"},
		{"nobody listening", syscall.ECONNREFUSED, exitUnavailable, "systemctl status accessd"},
		{"not allowed", syscall.EACCES, exitNoPerm, "accessd-admin"},
		{"something else", syscall.ENOTSOCK, exitError, "systemctl status accessd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newClient("/run/accessd/admin.sock")
			err := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", tt.errno)}
			ce := cl.dialError(err)
			require.Equal(t, tt.code, ce.code)
			require.Contains(t, ce.hint, tt.hint)
		})
	}
}

// TestRefusedPeer answers the way the daemon's peer check refuses a
// connection (daemon/adminsock.go: read the request head, write a 403,
// close, with a request body possibly unread), and expects exit 77 for a
// GET and for a POST with a body.
func TestRefusedPeer(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 16<<10)
			var got []byte
			for !bytes.Contains(got, []byte("\r\n\r\n")) {
				n, err := c.Read(buf[len(got):])
				got = buf[:len(got)+n]
				if err != nil {
					break
				}
			}
			body := `{"code":"AUT-0403","title":"Forbidden","message":"the admin socket is for root and members of the admin group; ask an administrator to add you to it"}`
			fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			// As the daemon does: drain the unread body before closing,
			// or the client may meet a broken pipe instead of the 403.
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = io.CopyN(io.Discard, c, 1<<20)
			c.Close()
		}
	}()
	for _, args := range [][]string{
		{"status"},
		{"app", "create", "--name", "x", "--description", strings.Repeat("long ", 20000)},
	} {
		var out, errb bytes.Buffer
		require.Equal(t, exitNoPerm, run(append([]string{"--socket", sock}, args...), testEnv("", &out, &errb)), errb.String())
		require.Contains(t, errb.String(), "AUT-0403: the admin socket is for root")
	}
}

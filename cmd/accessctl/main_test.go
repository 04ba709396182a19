package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// serveAdmin answers on a real Unix socket with handler h.
func serveAdmin(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// testEnv runs accessctl with the given stdin, the process environment
// and a fixed clock.
func testEnv(stdin string, stdout, stderr *bytes.Buffer) env {
	return env{
		stdin:  strings.NewReader(stdin),
		stdout: stdout,
		stderr: stderr,
		getenv: os.Getenv,
		now:    func() time.Time { return testNow },
	}
}

// testNow is the tests' clock.
var testNow = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func TestStatus(t *testing.T) {
	want := api.Status{Version: "1.2.3", StartedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Uptime: "1h0m0s",
		Seal:      api.SealStatus{Kind: "device", PCRs: []int{7}},
		Listeners: []api.Listener{{Plane: "data", Address: "127.0.0.1:8443"}, {Plane: "admin", Address: "/run/accessd/admin.sock", Activated: true}},
		Lockdown:  api.LockdownStatus{Mode: "enforce", Passed: 17, Warnings: 1}}
	sock := serveAdmin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/status", r.URL.Path)
		json.NewEncoder(w).Encode(want)
	}))

	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run([]string{"--socket", sock, "-o", "json", "status"}, testEnv("", &out, &errb)), errb.String())
	var got api.Status
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), "one JSON document on stdout")
	require.Equal(t, want, got)
	require.Empty(t, errb.String())

	out.Reset()
	t.Setenv("ACCESSD_SOCKET", sock)
	require.Equal(t, exitOK, run([]string{"status"}, testEnv("", &out, &errb)))
	require.Contains(t, out.String(), "device, PCRs [7]")
	require.Contains(t, out.String(), "/run/accessd/admin.sock (socket-activated)")
	require.Contains(t, out.String(), "enforce: 17 passed, 1 warnings, 0 failed")
}

func TestErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	forbidden := serveAdmin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(api.Error{Code: "AUT-0403", Title: "Forbidden", Message: "ask an administrator to add you to the admin group"})
	}))
	tests := []struct {
		name     string
		args     []string
		code     int
		wantHint string
	}{
		{"no daemon", []string{"--socket", filepath.Join(t.TempDir(), "none.sock"), "status"}, exitUnavailable, "is the daemon running"},
		{"refused", []string{"--socket", forbidden, "status"}, exitNoPerm, "admin group"},
		{"bad output", []string{"-o", "yaml", "status"}, exitUsage, "-o must be json or table"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"no command", nil, exitUsage, "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			require.Equal(t, tt.code, run(tt.args, testEnv("", &out, &errb)))
			require.Empty(t, out.String(), "errors go to stderr only")
			require.Contains(t, errb.String(), tt.wantHint)
		})
	}
}

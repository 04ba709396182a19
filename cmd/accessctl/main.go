// Command accessctl administers a local accessd over its admin socket.
//
//	accessctl [--socket PATH] [-o json|table] NOUN VERB [ARGS] [FLAGS]
//
// ACCESSD_SOCKET overrides the default socket. With -o json every command
// prints one JSON document on stdout; errors go to stderr with a non-zero
// exit status and a hint at what to do next.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/accessd/accessd/oauth/api"
)

// Exit codes, so scripts can tell a refusal from a daemon that is down.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnavailable = 69 // EX_UNAVAILABLE: the daemon is not running
	exitNoPerm      = 77 // EX_NOPERM: not allowed on the admin socket
)

const defaultSocket = "/run/accessd/admin.sock"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type cli struct {
	socket string
	output string
	stdout io.Writer
	http   *http.Client
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("accessctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := os.Getenv("ACCESSD_SOCKET")
	if sock == "" {
		sock = defaultSocket
	}
	c := &cli{stdout: stdout}
	fs.StringVar(&c.socket, "socket", sock, "admin socket `path` (env ACCESSD_SOCKET)")
	fs.StringVar(&c.output, "o", "table", "output format: json or table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: accessctl [--socket PATH] [-o json|table] NOUN VERB [ARGS]\n\ncommands:\n  status    show the daemon's version, uptime, seal, store, listeners and lockdown summary\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if c.output != "json" && c.output != "table" {
		fmt.Fprintf(stderr, "accessctl: -o must be json or table, got %q\n", c.output)
		return exitUsage
	}
	c.http = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.socket)
		}},
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	var err error
	switch rest[0] {
	case "status":
		err = c.status()
	default:
		fmt.Fprintf(stderr, "accessctl: unknown command %q; run accessctl --help\n", rest[0])
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(stderr, "accessctl:", err)
		var ce *cliError
		if errors.As(err, &ce) {
			return ce.code
		}
		return exitError
	}
	return exitOK
}

// cliError carries an exit code and a hint at what to do next.
type cliError struct {
	code int
	msg  string
}

func (e *cliError) Error() string { return e.msg }

// get calls the admin API and decodes its JSON answer into out.
func (c *cli) get(path string, out any) error {
	resp, err := c.http.Get("http://accessd" + path)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
			return &cliError{exitUnavailable, fmt.Sprintf("cannot reach accessd at %s: is the daemon running? (systemctl status accessd; or set --socket / ACCESSD_SOCKET)", c.socket)}
		case errors.Is(err, syscall.EACCES):
			return &cliError{exitNoPerm, fmt.Sprintf("permission denied on %s: join the accessd-admin group (usermod -aG accessd-admin $USER, then log in again)", c.socket)}
		}
		return &cliError{exitError, fmt.Sprintf("admin socket %s: %v", c.socket, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e api.Error
		_ = json.Unmarshal(body, &e)
		msg := strings.TrimSpace(e.Message)
		if msg == "" {
			msg = strings.TrimSpace(string(body))
		}
		code := exitError
		if resp.StatusCode == http.StatusForbidden {
			code = exitNoPerm
		}
		return &cliError{code, fmt.Sprintf("%s: %s", resp.Status, msg)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) status() error {
	var s api.Status
	if err := c.get("/v1/status", &s); err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(s)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	mode := "production"
	if s.Dev {
		mode = "dev (not for production)"
	}
	fmt.Fprintf(tw, "version:\t%s\n", s.Version)
	fmt.Fprintf(tw, "mode:\t%s\n", mode)
	fmt.Fprintf(tw, "uptime:\t%s (since %s)\n", s.Uptime, s.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "seal:\t%s, PCRs %v\n", s.Seal.Kind, s.Seal.PCRs)
	fmt.Fprintf(tw, "store:\t%s (lsm %d B, vlog %d B)\n", s.Store.Path, s.Store.LSMBytes, s.Store.VlogBytes)
	for _, l := range s.Listeners {
		how := "bound"
		if l.Activated {
			how = "socket-activated"
		}
		fmt.Fprintf(tw, "listen %s:\t%s (%s)\n", l.Plane, l.Address, how)
	}
	fmt.Fprintf(tw, "lockdown:\t%s: %d passed, %d warnings, %d failed\n", s.Lockdown.Mode, s.Lockdown.Passed, s.Lockdown.Warnings, s.Lockdown.Failed)
	for _, f := range s.Lockdown.Findings {
		fmt.Fprintf(tw, "  %s\t%s: %s\n", f.Status, f.Check, f.Found)
	}
	return tw.Flush()
}

// Command accessctl administers a local accessd over its admin socket.
//
//	accessctl [--socket PATH] [-o json|table] NOUN VERB [ARGS] [FLAGS]
//
// ACCESSD_SOCKET overrides the default socket. With -o json every command
// prints one JSON document on stdout; errors go to stderr with a non-zero
// exit status and a hint at what to do next.
//
// The commands are one table (cobra), so that help, flag parsing, the
// accessctl(1) man page and bash completion all come from the same tree
// and cannot drift apart. Each command maps to one admin route of
// oauth/api (identity.go lists them), sends the api request type and
// decodes the api answer type.
//
// # Secrets
//
// accessctl never takes a secret on its command line (it would land in
// shell history and in /proc/PID/cmdline): passwords come from stdin with
// --password-stdin. It prints a secret only when the daemon has just
// minted it and will never show it again (a generated password, a new
// client secret), and says so next to it.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
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
	os.Exit(run(os.Args[1:], env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		now:    time.Now,
	}))
}

// env is everything a run touches outside its arguments, injected so that
// tests drive the real command tree with their own streams and clock.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
}

// run executes one command line and returns the exit status. Errors the
// commands return are *cliError and carry their status; anything else
// comes from parsing the command line (unknown command or flag, missing
// argument, required or exclusive flags) and is a usage error.
func run(args []string, e env) int {
	if args == nil {
		args = []string{} // nil makes cobra read os.Args
	}
	root := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if !errors.As(err, &ce) {
		ce = &cliError{code: exitUsage, msg: err.Error(), hint: fmt.Sprintf("run '%s --help' for usage", cmd.CommandPath())}
	}
	if ce.msg != "" {
		fmt.Fprintln(e.stderr, "accessctl:", ce.msg)
	}
	if ce.hint != "" {
		fmt.Fprintln(e.stderr, "hint:", ce.hint)
	}
	return ce.code
}

// cliError is a failed command: its exit status, what went wrong and what
// to do next.
type cliError struct {
	code int
	msg  string
	hint string
}

func (e *cliError) Error() string { return e.msg }

// usageErr is a command line accessctl refuses before it calls the daemon.
func usageErr(path, format string, a ...any) *cliError {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, a...), hint: fmt.Sprintf("run '%s --help' for usage", path)}
}

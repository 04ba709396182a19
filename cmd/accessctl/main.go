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

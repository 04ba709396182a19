package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func (c *ctl) isJSON() bool { return c.output == "json" }

// printJSON writes v as the one JSON document of the command.
func (c *ctl) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table is a tabwriter over stdout; Flush it.
func (c *ctl) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
}

// shownOnce is the note printed next to every secret accessd mints.
const shownOnce = "shown once: accessd keeps only a hash and cannot show it again; store it now"

// noteShownOnce tells a JSON reader, on stderr, that the document it got
// holds a secret it will not get again.
func (c *ctl) noteShownOnce(field string) {
	fmt.Fprintf(c.stderr, "accessctl: note: %s is %s\n", field, shownOnce)
}

// fmtTime shows a time as RFC 3339, or "-" when unset.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// list joins names for a table cell, or "-" when there are none.
func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

// cell is s, or "-" when s is empty, so table columns stay aligned.
func cell(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// maxPassword bounds what --password-stdin reads; accessd refuses
// passwords over 256 bytes anyway and names the limit.
const maxPassword = 4096

// readPassword reads one line from stdin for --password-stdin. The line
// ends at a newline (a trailing \r is dropped too) or at end of input.
func (c *ctl) readPassword(path string) (string, error) {
	return c.readSecret(path, "--password-stdin")
}

// readSecret reads a secret for flag from the first line of stdin.
func (c *ctl) readSecret(path, flag string) (string, error) {
	r := bufio.NewReader(io.LimitReader(c.stdin, maxPassword+2))
	line, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", &cliError{code: exitError, msg: fmt.Sprintf("read %s from stdin: %v", flag, err)}
	}
	if len(line) > maxPassword+1 {
		return "", usageErr(path, "%s: the line on stdin is over %d bytes", flag, maxPassword)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", usageErr(path, "%s: stdin held no secret (give it one line, e.g. from a password manager's CLI)", flag)
	}
	return line, nil
}

// readInput reads the file named by -f, or stdin for "-", up to max
// bytes; what names it in errors, tooBig is the hint when it is larger.
func (c *ctl) readInput(path, what, file string, max int, tooBig string) ([]byte, error) {
	var r io.Reader
	switch strings.TrimSpace(file) {
	case "":
		return nil, usageErr(path, "-f must name a %s file, or - for stdin", what)
	case "-":
		r = c.stdin
	default:
		f, err := os.Open(file)
		if err != nil {
			return nil, &cliError{code: exitError, msg: fmt.Sprintf("read %s: %v", what, err), hint: "check the path given with -f"}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, &cliError{code: exitError, msg: fmt.Sprintf("read %s %s: %v", what, file, err)}
	}
	if len(b) > max {
		return nil, &cliError{code: exitError, msg: fmt.Sprintf("%s %s is over %d bytes", what, file, max), hint: tooBig}
	}
	if len(b) == 0 {
		return nil, &cliError{code: exitError, msg: fmt.Sprintf("%s %s is empty", what, file), hint: "an empty " + what + " changes nothing; check the file"}
	}
	return b, nil
}

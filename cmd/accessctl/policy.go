package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// maxPolicy bounds the policy file accessctl sends.
const maxPolicy = 8 << 20

func (c *ctl) applyCmd() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f policy.toml [--dry-run]",
		Short: "make the groups a policy file names match it: permissions and members as code",
		Long: `apply makes every group the policy file names match the file exactly: it
creates or updates the groups, adds the permissions and members that are
missing and removes those the file does not list. Groups the file does not
name are left alone. A second apply of the same file changes nothing.
With --dry-run accessd says what it would change and changes nothing.`,
		Example: `  accessctl apply -f /etc/accessd/policy.toml --dry-run
  accessctl apply -f - < policy.toml`,
		Args: exactArgs(),
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			body, err := c.readPolicy(cmd.CommandPath(), file)
			if err != nil {
				return err
			}
			q := url.Values{"dryRun": {strconv.FormatBool(dryRun)}}
			var r api.ApplyResult
			if _, err := c.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/apply", query: q, raw: body, rawTyp: "application/toml",
				notFound: "the file names a user or application that does not exist: 'accessctl user list', 'accessctl app list'"}, &r); err != nil {
				return err
			}
			if r.Changes == nil {
				r.Changes = []string{}
			}
			if c.isJSON() {
				return c.printJSON(r)
			}
			switch {
			case len(r.Changes) == 0:
				fmt.Fprintln(c.stdout, "no changes: accessd already matches the file")
			case r.DryRun:
				fmt.Fprintf(c.stdout, "dry run: %d change(s) would be made:\n", len(r.Changes))
			default:
				fmt.Fprintf(c.stdout, "%d change(s) made:\n", len(r.Changes))
			}
			for _, ch := range r.Changes {
				fmt.Fprintf(c.stdout, "  %s\n", ch)
			}
			if r.DryRun && len(r.Changes) > 0 {
				fmt.Fprintln(c.stdout, "run again without --dry-run to make them")
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy `file` (TOML); - reads stdin (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change and change nothing")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// readPolicy reads the policy file, or stdin for "-".
func (c *ctl) readPolicy(path, file string) ([]byte, error) {
	return c.readInput(path, "policy", file, maxPolicy, "split it into several files, one per set of groups")
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

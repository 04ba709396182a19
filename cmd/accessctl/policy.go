package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// maxPolicy bounds the policy file accessctl sends.
const maxPolicy = 8 << 20

// applyCmds is `accessctl apply`: policy as code.
type applyCmds struct{ ctl *ctl }

func (c applyCmds) command() *cobra.Command {
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
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			body, err := c.read(cmd.CommandPath(), file)
			if err != nil {
				return err
			}
			q := url.Values{"dryRun": {strconv.FormatBool(dryRun)}}
			var r api.ApplyResult
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/apply", query: q, raw: body, rawTyp: "application/toml",
				notFound: "the file names a user or application that does not exist: 'accessctl user list', 'accessctl app list'"}, &r); err != nil {
				return err
			}
			if r.Changes == nil {
				r.Changes = []string{}
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(r)
			}
			switch {
			case len(r.Changes) == 0:
				fmt.Fprintln(c.ctl.stdout, "no changes: accessd already matches the file")
			case r.DryRun:
				fmt.Fprintf(c.ctl.stdout, "dry run: %d change(s) would be made:\n", len(r.Changes))
			default:
				fmt.Fprintf(c.ctl.stdout, "%d change(s) made:\n", len(r.Changes))
			}
			for _, ch := range r.Changes {
				fmt.Fprintf(c.ctl.stdout, "  %s\n", ch)
			}
			if r.DryRun && len(r.Changes) > 0 {
				fmt.Fprintln(c.ctl.stdout, "run again without --dry-run to make them")
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy `file` (TOML); - reads stdin (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change and change nothing")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// read reads the policy file, or stdin for "-".
func (c applyCmds) read(path, file string) ([]byte, error) {
	return c.ctl.readInput(path, "policy", file, maxPolicy, "split it into several files, one per set of groups")
}

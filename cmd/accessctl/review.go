package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// reviewCmds is `accessctl review`: the access review.
type reviewCmds struct{ ctl *ctl }

func (c reviewCmds) command() *cobra.Command {
	var stale string
	cmd := &cobra.Command{
		Use:   "review [--stale DURATION]",
		Short: "the access review: every user and application with its groups, credential age, last use and flags, and the M2M links",
		Long: `review lists every user and application with its groups, credential age, last
use and flags (stale credential, unused account, admin without MFA, secret
past the rotation policy, application without groups or in an admin group),
then the machine-to-machine links: which application may act on which
product, and how. -o json adds each subject's effective permissions.`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if cmd.Flags().Changed("stale") {
				d, err := durationFlag(cmd.CommandPath(), "stale", stale)
				if err != nil {
					return err
				}
				q.Set("stale", d)
			}
			var r api.Review
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: "/v1/review", query: q}, &r); err != nil {
				return err
			}
			if r.Users == nil {
				r.Users = []api.ReviewSubject{}
			}
			if r.Applications == nil {
				r.Applications = []api.ReviewSubject{}
			}
			if r.Links == nil {
				r.Links = []api.M2MLink{}
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(r)
			}
			fmt.Fprintf(c.ctl.stdout, "access review of %s\n\n", fmtTime(r.GeneratedAt))
			tw := c.ctl.table()
			fmt.Fprintln(tw, "KIND\tNAME\tID\tGROUPS\tCREDENTIAL AGE\tLAST USED\tFLAGS")
			for _, s := range append(append([]api.ReviewSubject{}, r.Users...), r.Applications...) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Kind, s.Name, s.ID, list(s.Groups), cell(s.CredentialAge), fmtTime(s.LastUsed), list(s.Flags))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(c.ctl.stdout, "\nmachine-to-machine links:")
			if len(r.Links) == 0 {
				fmt.Fprintln(c.ctl.stdout, "  none")
				return nil
			}
			tw = c.ctl.table()
			fmt.Fprintln(tw, "  CLIENT ID\tPRODUCT\tACTIONS")
			for _, l := range r.Links {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", l.ClientID, l.Product, strings.Join(l.Actions, ","))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&stale, "stale", "", "flag credentials unused for this `duration` (90d, 2160h); the daemon's default when unset")
	return cmd
}

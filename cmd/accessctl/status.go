package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// statusCmds is `accessctl status`: what the daemon reports about itself.
type statusCmds struct{ ctl *ctl }

func (c statusCmds) command() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "show the daemon's version, uptime, seal, store, listeners and lockdown summary",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			var s api.Status
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: "/v1/status"}, &s); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(s)
			}
			tw := c.ctl.table()
			mode := "production"
			if s.Dev {
				mode = "dev (not for production)"
			}
			fmt.Fprintf(tw, "version:\t%s\n", s.Version)
			fmt.Fprintf(tw, "mode:\t%s\n", mode)
			fmt.Fprintf(tw, "uptime:\t%s (since %s)\n", s.Uptime, s.StartedAt.Format(time.RFC3339))
			fmt.Fprintf(tw, "seal:\t%s, PCRs %v\n", s.Seal.Kind, s.Seal.PCRs)
			if s.Seal.RollbackDetection != "" { // empty from an accessd that predates it
				fmt.Fprintf(tw, "rollback:\tdetection %s\n", s.Seal.RollbackDetection)
			}
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
		}),
	}
}

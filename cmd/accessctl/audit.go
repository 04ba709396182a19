package main

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// auditCmds is `accessctl audit`: reading and verifying the audit log.
type auditCmds struct{ ctl *ctl }

func (c auditCmds) command() *cobra.Command {
	return c.ctl.noun("audit", "read and verify the hash-chained audit log",
		c.list(),
		c.verify(),
	)
}

func (c auditCmds) list() *cobra.Command {
	var since, typ string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--since RFC3339|DURATION] [--type T] [--limit N]",
		Short: "list audit entries, oldest first",
		Example: `  accessctl audit list --since 24h --type user.create
  accessctl audit list --since 2026-11-01T00:00:00Z -o json`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			f := cmd.Flags()
			if f.Changed("since") {
				t, err := parseSince(since, c.ctl.now())
				if err != nil {
					return usageErr(cmd.CommandPath(), "--since: %v", err)
				}
				q.Set("since", t.Format(time.RFC3339))
			}
			if f.Changed("type") {
				q.Set("type", typ)
			}
			if f.Changed("limit") {
				if err := positive(cmd.CommandPath(), "limit", limit); err != nil {
					return err
				}
				q.Set("limit", strconv.Itoa(limit))
			}
			es := []api.AuditEntry{}
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: "/v1/audit", query: q}, &es); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(es)
			}
			if len(es) == 0 {
				fmt.Fprintln(c.ctl.stdout, "no audit entries")
				return nil
			}
			tw := c.ctl.table()
			fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTOR\tTARGET\tRESULT\tSOURCE\tDETAIL")
			for _, e := range es {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, fmtTime(e.Time), e.Type, cell(e.Actor), cell(e.Target), e.Result, cell(e.Source), detail(e.Detail))
			}
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "entries from this RFC 3339 `time`, or from this long ago (24h, 7d)")
	f.StringVar(&typ, "type", "", "only entries of this `type` (user.create, …)")
	f.IntVar(&limit, "limit", 0, "at most `N` entries")
	return cmd
}

// detail shows an entry's detail map as sorted key=value pairs.
func detail(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, " ")
}

func (c auditCmds) verify() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "check the audit chain end to end and print its head hash; exit 1 when it is broken",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			var v api.AuditVerify
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/audit/verify"}, &v); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				if err := c.ctl.printJSON(v); err != nil {
					return err
				}
			} else {
				tw := c.ctl.table()
				verdict := "ok"
				if !v.OK {
					verdict = "BROKEN"
				}
				fmt.Fprintf(tw, "chain:\t%s\n", verdict)
				fmt.Fprintf(tw, "entries:\t%d\n", v.Entries)
				fmt.Fprintf(tw, "head:\t%s\n", cell(v.Head))
				if cp := v.Checkpoint; cp != nil {
					fmt.Fprintf(tw, "checkpoint:\tentry %d (hash %s), archived %s\n", cp.Seq, cell(cp.Hash), fmtTime(cp.Time))
					fmt.Fprintf(tw, "archive:\t%s (entries %d to %d, %d entries, sha256 %s)\n", cell(cp.Archive), cp.FirstSeq, cp.Seq, cp.Entries, cell(cp.ArchiveSHA256))
				}
				if !v.OK {
					fmt.Fprintf(tw, "first broken:\tentry %d\n", v.FirstBroken)
					fmt.Fprintf(tw, "problem:\t%s\n", cell(v.Problem))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if v.OK {
					fmt.Fprintln(c.ctl.stdout, "(record the head hash away from this host: a later verify that does not reach it means the log was rewritten)")
				}
			}
			if !v.OK {
				msg := fmt.Sprintf("audit chain broken at entry %d", v.FirstBroken)
				if v.Problem != "" {
					msg += ": " + v.Problem
				}
				return &cliError{code: exitError, msg: msg,
					hint: "an entry was edited, removed or reordered; keep a copy of the data dir for investigation and see journalctl -u accessd"}
			}
			return nil
		}),
	}
}

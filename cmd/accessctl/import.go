package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// maxImport is what accessd reads of one request body.
const maxImport = 1 << 20

// importCmds is `accessctl import`: users, memberships and applications from Lerian's Access Manager.
type importCmds struct{ ctl *ctl }

func (c importCmds) command() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import -f FILE [--dry-run]",
		Short: "move users, memberships and applications in from Lerian's Access Manager",
		Long: `import creates the users and applications of a Lerian Access Manager in
accessd, in one transaction: all of them or, on any error or conflict, none.

FILE bundles three answers read from Lerian's Identity API with an admin
token, unchanged: GET /v1/users, GET /v1/groups and GET /v1/applications
(each a JSON array, or Lerian's paginated object with every entry in
"items"):

  {"users": [...], "groups": [...], "applications": [...]}

Fields Lerian does not answer are refused, except two accessd reads:
"passwordHash" on a user (a bcrypt hash, $2a$/$2b$/$2y$, cost 4 to 14)
and "groups" on an application (Lerian's application list has none, so
without it an application imports with no permissions).

Applications keep their id, clientId and clientSecret: their existing
secrets go on working for client_credentials. accessd keeps only a keyed
hash of each secret, as of any other, and never shows it again; a secret
must be 32 to 256 printable characters. Users keep their id; a user with
a passwordHash signs in with the old password, and the hash is re-made as
argon2id at that first sign-in; every other user gets a one-time password,
printed once here, that must be changed at the first sign-in. Memberships
are a user's "groups" joined with the groups whose "users" name it. Groups
are not created: each one named must exist in accessd under the same
name (Lerian's are predefined; accessd's default groups have their names).

A record that exists with the same content is reported unchanged, so a
second import of the same file changes nothing. One that exists with
other content is a conflict: nothing is imported until accessd and the
file agree. With --dry-run accessd reports the plan, conflicts included,
and writes nothing. Every created record is audited (user.import,
app.import, lerian.import); secrets appear in no answer, audit entry or
log line.`,
		Example: `  accessctl import -f lerian-export.json --dry-run
  accessctl import -f lerian-export.json -o json > passwords.json

  # lerian-export.json:
  {"users": [{"id": "019c96a0-0c21-71f9-a487-66a1258278a1", "username": "johndoe",
              "firstName": "John", "lastName": "Doe", "email": "john@example.com",
              "groups": ["midaz-viewer-group"],
              "passwordHash": "$2a$10$…"}],
   "groups": [{"id": "midaz-viewer-group", "name": "Midaz Viewer",
               "createdAt": "2025-04-08T08:01:30.169Z", "users": ["johndoe"]}],
   "applications": [{"id": "019c96a0-0c0c-7221-8cf3-13313fb60081", "name": "Midaz",
                     "description": "Midaz Used By Application X",
                     "clientId": "019c96a0-6a10-7abc-d1e2-8c9d0e1f2a3b",
                     "clientSecret": "019c96a0-6a20-7bcd-e1f2-9d0e1f2a3b4c",
                     "createdAt": "2025-04-08T08:01:30.000Z",
                     "groups": ["midaz-viewer-group"]}]}`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			body, err := c.ctl.readInput(cmd.CommandPath(), "import file", file, maxImport,
				"split it into several files (the users in one, the applications in another) and import each")
			if err != nil {
				return err
			}
			defer clear(body) // it holds client secrets
			q := url.Values{"dryRun": {strconv.FormatBool(dryRun)}}
			var r api.ImportResult
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/import", query: q, raw: body, rawTyp: "application/json",
				notFound: "the file names a group accessd does not have: 'accessctl group list'; create it with 'accessctl group create'"}, &r); err != nil {
				return err
			}
			if r.Records == nil {
				r.Records = []api.ImportRecord{}
			}
			if c.ctl.isJSON() {
				if len(r.Passwords) > 0 {
					c.ctl.noteShownOnce("each password")
				}
				return c.ctl.printJSON(r)
			}
			c.print(r)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Lerian export `file` (JSON); - reads stdin (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be imported and write nothing")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// print shows an import's records as a table, then the one-time
// passwords.
func (c importCmds) print(r api.ImportResult) {
	n := map[string]int{}
	for _, rec := range r.Records {
		n[rec.Action]++
	}
	switch {
	case r.DryRun:
		fmt.Fprintf(c.ctl.stdout, "dry run: %d to create, %d unchanged, %d conflict(s); nothing written\n", n["create"], n["unchanged"], n["conflict"])
	case n["create"] == 0:
		fmt.Fprintf(c.ctl.stdout, "no changes: accessd already holds every record of the file (%d unchanged)\n", n["unchanged"])
	default:
		fmt.Fprintf(c.ctl.stdout, "imported: %d created, %d unchanged\n", n["create"], n["unchanged"])
	}
	tw := c.ctl.table()
	fmt.Fprintln(tw, "ACTION\tKIND\tNAME\tID\tDETAIL")
	for _, rec := range r.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rec.Action, rec.Kind, rec.Name, cell(rec.ID), cell(rec.Detail))
	}
	tw.Flush()
	if len(r.Passwords) > 0 {
		fmt.Fprintln(c.ctl.stdout, "one-time passwords (each must be changed at the first sign-in):")
		tw = c.ctl.table()
		for _, p := range r.Passwords {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Username, p.Password)
		}
		tw.Flush()
		fmt.Fprintf(c.ctl.stdout, "(%s)\n", shownOnce)
	}
	switch {
	case r.DryRun && n["conflict"] > 0:
		fmt.Fprintln(c.ctl.stdout, "resolve the conflicts (make accessd and the file agree), then run again without --dry-run")
	case r.DryRun && n["create"] > 0:
		fmt.Fprintln(c.ctl.stdout, "run again without --dry-run to import")
	}
}

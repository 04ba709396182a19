package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

const appNotFound = "'accessctl app list' shows the applications; name one by id or clientId"

// appCmds is `accessctl app`: machine-to-machine applications and their secrets.
type appCmds struct{ ctl *ctl }

func (c appCmds) command() *cobra.Command {
	return c.ctl.noun("app", "manage machine-to-machine applications and their secrets",
		c.create(),
		c.list(),
		c.get(),
		c.rotate(),
		c.logout(),
		c.delete(),
		tenantUpdate(c.ctl, "application", "ID", "/v1/applications", appNotFound, c.showTenant),
		appProviderCmds{c.ctl}.command(),
	)
}

func (c appCmds) create() *cobra.Command {
	var req api.CreateApplicationRequest
	var tenant string
	cmd := &cobra.Command{
		Use:   "create --name N [--description D] [--group G]... [--cert-spki SHA256HEX | --cert-subject DN] [--expires-in DURATION] [--tenant ID[:SLUG]]",
		Short: "create an application; its clientId and clientSecret are shown once",
		Example: `  accessctl app create --name ledger-sync --group midaz-ledger-editor --expires-in 90d
  accessctl app create --name payments --cert-subject "CN=payments,O=example" --group payments-writer`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			path := cmd.CommandPath()
			if strings.TrimSpace(req.Name) == "" {
				return usageErr(path, "--name must not be empty")
			}
			req.TenantID, req.TenantSlug = splitTenant(tenant)
			f := cmd.Flags()
			if f.Changed("cert-spki") && f.Changed("cert-subject") {
				return usageErr(path, "--cert-spki and --cert-subject exclude each other: bind the application to a key or to a subject")
			}
			if f.Changed("cert-spki") {
				h, err := parseSPKI(req.CertSPKI)
				if err != nil {
					return usageErr(path, "--cert-spki: %v", err)
				}
				req.CertSPKI = h
			}
			if f.Changed("cert-subject") && strings.TrimSpace(req.CertSubject) == "" {
				return usageErr(path, "--cert-subject must not be empty")
			}
			if f.Changed("expires-in") {
				d, err := durationFlag(path, "expires-in", req.ExpiresIn)
				if err != nil {
					return err
				}
				req.ExpiresIn = d
			}
			var a api.CreatedApplication
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/applications", body: req, notFound: "a --group named may not exist: 'accessctl group list' shows the groups"}, &a); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				if a.ClientSecret != "" {
					c.ctl.noteShownOnce("clientSecret")
				}
				return c.ctl.printJSON(a)
			}
			fmt.Fprintf(c.ctl.stdout, "application %s created (id %s)\n", a.Name, a.ID)
			tw := c.ctl.table()
			fmt.Fprintf(tw, "clientId:\t%s\n", a.ClientID)
			fmt.Fprintf(tw, "clientSecret:\t%s\n", a.ClientSecret)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.ctl.stdout, "(the client secret is %s)\n", shownOnce)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "application `name` (required)")
	f.StringVar(&req.Description, "description", "", "what the application is (`text`)")
	f.StringArrayVar(&req.Groups, "group", nil, "`group` to join; repeat for more")
	f.StringVar(&req.CertSPKI, "cert-spki", "", "bind to client certificates whose SubjectPublicKeyInfo has this SHA-256 (`hex`)")
	f.StringVar(&req.CertSubject, "cert-subject", "", "bind to client certificates with this subject `DN`")
	f.StringVar(&req.ExpiresIn, "expires-in", "", "the application stops working after this `duration` (720h, 90d); never when unset")
	tenantFlag(f, &tenant)
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func (c appCmds) list() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list applications (never their secrets)",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			as, err := getAll[api.Application](cmd.Context(), c.ctl.cl, call{method: http.MethodGet, path: "/v1/applications"})
			if err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(as)
			}
			if len(as) == 0 {
				fmt.Fprintln(c.ctl.stdout, "no applications")
				return nil
			}
			tw := c.ctl.table()
			fmt.Fprintln(tw, "ID\tNAME\tCLIENT ID\tGROUPS\tSECRETS\tEXPIRES\tLAST USED")
			for _, a := range as {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, a.Name, a.ClientID, list(a.Groups), len(a.Secrets), fmtTime(a.ExpiresAt), fmtTime(a.LastUsedAt))
			}
			return tw.Flush()
		}),
	}
}

func (c appCmds) get() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "show an application and the age of its secrets (never the secrets)",
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var a api.Application
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: route("/v1/applications", args[0]), notFound: appNotFound}, &a); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(a)
			}
			tw := c.ctl.table()
			fmt.Fprintf(tw, "id:\t%s\n", a.ID)
			fmt.Fprintf(tw, "name:\t%s\n", a.Name)
			fmt.Fprintf(tw, "description:\t%s\n", cell(a.Description))
			fmt.Fprintf(tw, "clientId:\t%s\n", a.ClientID)
			fmt.Fprintf(tw, "groups:\t%s\n", list(a.Groups))
			printTenant(tw, a.TenantID, a.TenantSlug)
			switch {
			case a.CertSPKI != "":
				fmt.Fprintf(tw, "certificate:\tSPKI SHA-256 %s\n", a.CertSPKI)
			case a.CertSubject != "":
				fmt.Fprintf(tw, "certificate:\tsubject %s\n", a.CertSubject)
			default:
				fmt.Fprintf(tw, "certificate:\tnot bound\n")
			}
			fmt.Fprintf(tw, "expires:\t%s\n", fmtTime(a.ExpiresAt))
			fmt.Fprintf(tw, "created:\t%s\n", fmtTime(a.CreatedAt))
			fmt.Fprintf(tw, "last used:\t%s\n", fmtTime(a.LastUsedAt))
			for i, s := range a.Secrets {
				fmt.Fprintf(tw, "secret %d:\tcreated %s, expires %s\n", i+1, fmtTime(s.CreatedAt), fmtTime(s.ExpiresAt))
			}
			return tw.Flush()
		}),
	}
}

func (c appCmds) rotate() *cobra.Command {
	var grace string
	cmd := &cobra.Command{
		Use:   "rotate ID [--grace DURATION]",
		Short: "give an application a new secret, shown once; the previous one works until the grace period ends",
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var req api.RotateRequest
			if cmd.Flags().Changed("grace") {
				d, err := durationFlag(cmd.CommandPath(), "grace", grace)
				if err != nil {
					return err
				}
				req.Grace = d
			}
			var r api.RotatedSecret
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: route("/v1/applications", args[0]) + "/rotate", body: req, notFound: appNotFound}, &r); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				if r.ClientSecret != "" {
					c.ctl.noteShownOnce("clientSecret")
				}
				return c.ctl.printJSON(r)
			}
			tw := c.ctl.table()
			fmt.Fprintf(tw, "clientId:\t%s\n", r.ClientID)
			fmt.Fprintf(tw, "clientSecret:\t%s\n", r.ClientSecret)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.ctl.stdout, "(the new client secret is %s)\n", shownOnce)
			if r.PreviousExpiresAt.IsZero() {
				fmt.Fprintln(c.ctl.stdout, "the previous secret has stopped working")
			} else {
				fmt.Fprintf(c.ctl.stdout, "the previous secret stops working at %s\n", fmtTime(r.PreviousExpiresAt))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&grace, "grace", "", "how long the previous secret keeps working (`duration`; the daemon's default, 24h, when unset)")
	return cmd
}

func (c appCmds) delete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "delete an application; its secrets and tokens stop working at once",
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodDelete, path: route("/v1/applications", args[0]), notFound: appNotFound}, nil); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(outcome{Kind: "app", ID: args[0], Result: "deleted"})
			}
			fmt.Fprintf(c.ctl.stdout, "application %s deleted\n", args[0])
			return nil
		}),
	}
}

func (c appCmds) logout() *cobra.Command {
	return &cobra.Command{
		Use:   "logout ID",
		Short: "forced logout: every access token the application holds stops passing at once; its secrets keep working",
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: route("/v1/applications", args[0]) + "/logout", notFound: appNotFound}, nil); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(outcome{Kind: "app", ID: args[0], Result: "logged-out"})
			}
			fmt.Fprintf(c.ctl.stdout, "application %s logged out\n", args[0])
			return nil
		}),
	}
}

// showTenant prints an application after its tenant changed.
func (c appCmds) showTenant(a api.Application) error {
	if c.ctl.isJSON() {
		return c.ctl.printJSON(a)
	}
	tw := c.ctl.table()
	fmt.Fprintf(tw, "id:\t%s\n", a.ID)
	fmt.Fprintf(tw, "name:\t%s\n", a.Name)
	fmt.Fprintf(tw, "clientId:\t%s\n", a.ClientID)
	if a.TenantID == "" {
		fmt.Fprintf(tw, "tenant:\tnone\n")
	}
	printTenant(tw, a.TenantID, a.TenantSlug)
	return tw.Flush()
}

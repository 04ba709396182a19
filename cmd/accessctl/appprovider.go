package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

const appProviderNotFound = "'accessctl app provider list APP' shows the linked providers, 'accessctl provider list' all of them"

// appProviderCmds is `accessctl app provider`, Lerian's Application Providers API: which delivery
// providers an application links, and which one delivers the codes of
// users who sign in through it.
type appProviderCmds struct{ ctl *ctl }

func (c appProviderCmds) command() *cobra.Command {
	return c.ctl.noun("provider", "link delivery providers to an application and choose its default per category",
		c.list(), c.link(), c.unlink(), c.setDefault())
}

func appProvidersPath(app string, provider ...string) string {
	return route("/v1/applications", append([]string{app, "providers"}, provider...)...)
}

func (c appProviderCmds) show(l []api.AppProvider) error {
	if l == nil {
		l = []api.AppProvider{}
	}
	if c.ctl.isJSON() {
		return c.ctl.printJSON(l)
	}
	if len(l) == 0 {
		fmt.Fprintln(c.ctl.stdout, "no providers linked; the categories' defaults deliver ('accessctl provider list')")
		return nil
	}
	tw := c.ctl.table()
	fmt.Fprintln(tw, "PROVIDER ID\tNAME\tCATEGORY\tTYPE\tDEFAULT")
	for _, p := range l {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ProviderID, p.Name, p.Category, p.Type, yesOrNo(p.Default))
	}
	return tw.Flush()
}

func (c appProviderCmds) list() *cobra.Command {
	return &cobra.Command{
		Use:   "list APP",
		Short: "list the providers linked to an application",
		Args:  exactArgs("APP"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var l []api.AppProvider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: appProvidersPath(args[0]), notFound: appNotFound}, &l); err != nil {
				return err
			}
			return c.show(l)
		}),
	}
}

func (c appProviderCmds) link() *cobra.Command {
	var req api.LinkProviderRequest
	var def bool
	cmd := &cobra.Command{
		Use:   "link APP PROVIDER [--default] [--can-sign-in] [--can-sign-up] [--can-unlink] [--prompted]",
		Short: "link a delivery provider (ID or name) to an application; --default also makes it the application's default for its category",
		Args:  exactArgs("APP", "PROVIDER"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			req.ProviderID = args[1]
			var out api.AppProvider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: appProvidersPath(args[0]), body: req, notFound: appProviderNotFound}, &out); err != nil {
				return err
			}
			if def {
				if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPatch, path: appProvidersPath(args[0], out.ProviderID, "default"), notFound: appProviderNotFound}, &out); err != nil {
					return err
				}
			}
			return c.show([]api.AppProvider{out})
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&def, "default", false, "make it the application's default for its category")
	f.BoolVar(&req.CanSignIn, "can-sign-in", false, "Lerian's canSignIn flag (kept and shown)")
	f.BoolVar(&req.CanSignUp, "can-sign-up", false, "Lerian's canSignUp flag (kept and shown)")
	f.BoolVar(&req.CanUnlink, "can-unlink", false, "Lerian's canUnlink flag (kept and shown)")
	f.BoolVar(&req.Prompted, "prompted", false, "Lerian's prompted flag (kept and shown)")
	return cmd
}

func (c appProviderCmds) unlink() *cobra.Command {
	return &cobra.Command{
		Use:   "unlink APP PROVIDER",
		Short: "unlink a provider from an application (the provider stays); its users' codes go through the category's default again",
		Args:  exactArgs("APP", "PROVIDER"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodDelete, path: appProvidersPath(args[0], args[1]), notFound: appProviderNotFound}, nil); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(outcome{Kind: "application provider", ID: args[1], Result: "unlinked"})
			}
			fmt.Fprintf(c.ctl.stdout, "provider %s unlinked from application %s\n", args[1], args[0])
			return nil
		}),
	}
}

func (c appProviderCmds) setDefault() *cobra.Command {
	return &cobra.Command{
		Use:   "set-default APP PROVIDER",
		Short: "make a linked provider the application's default for its category: it delivers the codes of users who sign in through the application",
		Args:  exactArgs("APP", "PROVIDER"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var out api.AppProvider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPatch, path: appProvidersPath(args[0], args[1], "default"), notFound: appProviderNotFound}, &out); err != nil {
				return err
			}
			return c.show([]api.AppProvider{out})
		}),
	}
}

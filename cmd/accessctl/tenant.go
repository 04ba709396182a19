package main

import (
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/accessd/accessd/oauth/api"
)

// tenantUsage is the help of every --tenant flag.
const tenantUsage = "tenant of a multi-tenant deployment, as `ID[:SLUG]` (\"\" for none); set on the admin socket only"

// splitTenant reads --tenant ID[:SLUG].
func splitTenant(v string) (id, slug string) {
	id, slug, _ = strings.Cut(v, ":")
	return id, slug
}

// tenantFlag registers --tenant on f.
func tenantFlag(f *pflag.FlagSet, v *string) { f.StringVar(v, "tenant", "", tenantUsage) }

// printTenant adds the tenant line of a record to a detail table, when
// it has one.
func printTenant(tw *tabwriter.Writer, id, slug string) {
	switch {
	case id != "" && slug != "":
		fmt.Fprintf(tw, "tenant:\t%s (%s)\n", id, slug)
	case id != "":
		fmt.Fprintf(tw, "tenant:\t%s\n", id)
	}
}

// tenantUpdate is `group update` and `app update`: today they change
// only the tenant.
func tenantUpdate[T any](c *ctl, noun, arg, prefix, notFound string, show func(T) error) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "update " + arg + " --tenant ID[:SLUG]",
		Short: "move a " + noun + " to a tenant (--tenant ID[:SLUG]) or out of any (--tenant \"\")",
		Args:  exactArgs(arg),
		RunE: c.runE(func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("tenant") {
				return usageErr(cmd.CommandPath(), "nothing to change: give --tenant ID[:SLUG], or --tenant \"\" for none")
			}
			id, slug := splitTenant(tenant)
			var out T
			if _, err := c.cl.do(cmd.Context(), call{method: http.MethodPut, path: route(prefix, args[0], "tenant"),
				body: api.TenantRequest{TenantID: id, TenantSlug: slug}, notFound: notFound}, &out); err != nil {
				return err
			}
			return show(out)
		}),
	}
	tenantFlag(cmd.Flags(), &tenant)
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

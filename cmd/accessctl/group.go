package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

const (
	groupNotFound  = "'accessctl group list' shows the groups"
	memberNotFound = "'accessctl group list' shows the groups; 'accessctl user list' and 'accessctl app list' the members (name them user:<id|username> or app:<id|clientId>)"
)

// groupCmds is `accessctl group`: groups, their permissions and their members.
type groupCmds struct{ ctl *ctl }

func (c groupCmds) command() *cobra.Command {
	return c.ctl.noun("group", "manage groups, their permissions and their members",
		c.list(),
		c.get(),
		c.create(),
		c.delete(),
		tenantUpdate(c.ctl, "group", "NAME", "/v1/groups", groupNotFound, c.show),
		c.permission("grant", "allow a group's members an action on a resource", http.MethodPost),
		c.permission("revoke", "take a permission back from a group", http.MethodDelete),
		c.addMember(),
		c.removeMember(),
		c.members(),
	)
}

func (c groupCmds) list() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list groups",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			gs, err := getAll[api.Group](cmd.Context(), c.ctl.cl, call{method: http.MethodGet, path: "/v1/groups"})
			if err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(gs)
			}
			if len(gs) == 0 {
				fmt.Fprintln(c.ctl.stdout, "no groups")
				return nil
			}
			tw := c.ctl.table()
			fmt.Fprintln(tw, "NAME\tPERMISSIONS\tDESCRIPTION")
			for _, g := range gs {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", g.Name, len(g.Permissions), cell(g.Description))
			}
			return tw.Flush()
		}),
	}
}

func (c groupCmds) get() *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "show a group and its permissions",
		Args:  exactArgs("NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var g api.Group
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: route("/v1/groups", args[0]), notFound: groupNotFound}, &g); err != nil {
				return err
			}
			return c.show(g)
		}),
	}
}

func (c groupCmds) create() *cobra.Command {
	var req api.CreateGroupRequest
	var tenant string
	cmd := &cobra.Command{
		Use:   "create NAME [--description D] [--tenant ID[:SLUG]]",
		Short: "create an empty group",
		Args:  exactArgs("NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			req.TenantID, req.TenantSlug = splitTenant(tenant)
			var g api.Group
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/groups", body: req}, &g); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(g)
			}
			fmt.Fprintf(c.ctl.stdout, "group %s created\n", g.Name)
			return nil
		}),
	}
	cmd.Flags().StringVar(&req.Description, "description", "", "what the group is for (`text`)")
	tenantFlag(cmd.Flags(), &tenant)
	return cmd
}

func (c groupCmds) delete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "delete a group; its members lose its permissions at once",
		Args:  exactArgs("NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodDelete, path: route("/v1/groups", args[0]), notFound: groupNotFound}, nil); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(outcome{Kind: "group", ID: args[0], Result: "deleted"})
			}
			fmt.Fprintf(c.ctl.stdout, "group %s deleted\n", args[0])
			return nil
		}),
	}
}

// permission is grant (POST) and revoke (DELETE) of one permission.
func (c groupCmds) permission(verb, short, method string) *cobra.Command {
	var p api.Permission
	cmd := &cobra.Command{
		Use:   verb + " GROUP --resource R --action A [--product P]",
		Short: short,
		Args:  exactArgs("GROUP"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(p.Resource) == "" || strings.TrimSpace(p.Action) == "" {
				return usageErr(cmd.CommandPath(), "--resource and --action must not be empty (use * for any)")
			}
			var g api.Group
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: method, path: route("/v1/groups", args[0]) + "/permissions", body: p, notFound: groupNotFound}, &g); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(g)
			}
			done := "granted to"
			if verb == "revoke" {
				done = "revoked from"
			}
			fmt.Fprintf(c.ctl.stdout, "%s %s group %s\n", permString(p), done, g.Name)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&p.Resource, "resource", "", "`resource`, or * for any (required)")
	f.StringVar(&p.Action, "action", "", "`action` (get, post, …), or * for any (required)")
	f.StringVar(&p.Product, "product", "", "`product` the permission is limited to; any product when unset")
	_ = cmd.MarkFlagRequired("resource")
	_ = cmd.MarkFlagRequired("action")
	return cmd
}

func (c groupCmds) addMember() *cobra.Command {
	return &cobra.Command{
		Use:   "add-member GROUP MEMBER",
		Short: "add a user or application to a group (MEMBER: user:<id|username>, app:<id|clientId>, or a bare name)",
		Args:  memberArgs,
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var g api.Group
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: route("/v1/groups", args[0]) + "/members", body: api.MemberRequest{Member: args[1]}, notFound: memberNotFound}, &g); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(g)
			}
			fmt.Fprintf(c.ctl.stdout, "%s added to group %s\n", args[1], g.Name)
			return nil
		}),
	}
}

func (c groupCmds) removeMember() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-member GROUP MEMBER",
		Short: "remove a user or application from a group",
		Args:  memberArgs,
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodDelete, path: route("/v1/groups", args[0], "members", args[1]), notFound: memberNotFound}, nil); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(outcome{Kind: "member", ID: args[1], Group: args[0], Result: "removed"})
			}
			fmt.Fprintf(c.ctl.stdout, "%s removed from group %s\n", args[1], args[0])
			return nil
		}),
	}
}

func (c groupCmds) members() *cobra.Command {
	return &cobra.Command{
		Use:   "members GROUP",
		Short: "list the users and applications in a group",
		Args:  exactArgs("GROUP"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			ms, err := getAll[api.Member](cmd.Context(), c.ctl.cl, call{method: http.MethodGet, path: route("/v1/groups", args[0]) + "/members", notFound: groupNotFound})
			if err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(ms)
			}
			if len(ms) == 0 {
				fmt.Fprintf(c.ctl.stdout, "group %s has no members\n", args[0])
				return nil
			}
			tw := c.ctl.table()
			fmt.Fprintln(tw, "KIND\tID\tNAME")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Kind, m.ID, m.Name)
			}
			return tw.Flush()
		}),
	}
}

// memberArgs wants GROUP and MEMBER, where MEMBER's kind, when given,
// is user or app and is followed by a name.
func memberArgs(cmd *cobra.Command, args []string) error {
	if err := exactArgs("GROUP", "MEMBER")(cmd, args); err != nil {
		return err
	}
	for _, kind := range []string{api.MemberUser, api.MemberApp} {
		if name, ok := strings.CutPrefix(args[1], kind+":"); ok && strings.TrimSpace(name) == "" {
			return usageErr(cmd.CommandPath(), "MEMBER %q names no %s: use %s:<id or name>", args[1], kind, kind)
		}
	}
	return nil
}

// show prints one group in detail.
func (c groupCmds) show(g api.Group) error {
	if c.ctl.isJSON() {
		return c.ctl.printJSON(g)
	}
	tw := c.ctl.table()
	fmt.Fprintf(tw, "name:\t%s\n", g.Name)
	fmt.Fprintf(tw, "description:\t%s\n", cell(g.Description))
	printTenant(tw, g.TenantID, g.TenantSlug)
	fmt.Fprintf(tw, "created:\t%s\n", fmtTime(g.CreatedAt))
	fmt.Fprintf(tw, "updated:\t%s\n", fmtTime(g.UpdatedAt))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(g.Permissions) == 0 {
		fmt.Fprintln(c.ctl.stdout, "permissions: none")
		return nil
	}
	fmt.Fprintln(c.ctl.stdout, "permissions:")
	tw = c.ctl.table()
	fmt.Fprintln(tw, "  PRODUCT\tRESOURCE\tACTION")
	for _, p := range g.Permissions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", anyProduct(p.Product), p.Resource, p.Action)
	}
	return tw.Flush()
}

// anyProduct shows the empty product, which matches every product, as *.
func anyProduct(p string) string {
	if p == "" {
		return "*"
	}
	return p
}

func permString(p api.Permission) string {
	return fmt.Sprintf("%s %s on product %s", p.Action, p.Resource, anyProduct(p.Product))
}

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

const userNotFound = "'accessctl user list' shows the users; a user can be named by id or username"

// userCmds is `accessctl user`: people who sign in.
type userCmds struct{ ctl *ctl }

func (c userCmds) command() *cobra.Command {
	return c.ctl.noun("user", "manage users: create, list, get, update, delete, disable, enable, reset-password, logout",
		c.create(),
		c.list(),
		c.get(),
		c.update(),
		c.simple("delete", "delete a user; its sessions and tokens end at once", http.MethodDelete, "", "deleted"),
		c.simple("disable", "disable a user; its sessions and tokens end at once", http.MethodPost, "disable", "disabled"),
		c.simple("enable", "enable a disabled user", http.MethodPost, "enable", "enabled"),
		c.resetPassword(),
		c.simple("logout", "forced logout: end every session and refresh token of a user; earlier access tokens stop passing", http.MethodPost, "logout", "logged out"),
	)
}

func (c userCmds) create() *cobra.Command {
	var req api.CreateUserRequest
	var pwStdin bool
	var tenant string
	cmd := &cobra.Command{
		Use:   "create --username U --email E [--phone-number +E164] [--first-name F] [--last-name L] [--group G]... [--tenant ID[:SLUG]] [--password-stdin]",
		Short: "create a user; without --password-stdin accessd generates a password, shown once",
		Example: `  accessctl user create --username alice --email alice@example.com --group admin-group
  pass show accessd/bob | accessctl user create --username bob --email bob@example.com --password-stdin`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(req.Username) == "" || strings.TrimSpace(req.Email) == "" {
				return usageErr(cmd.CommandPath(), "--username and --email must not be empty")
			}
			req.TenantID, req.TenantSlug = splitTenant(tenant)
			if pwStdin {
				pw, err := c.ctl.readPassword(cmd.CommandPath())
				if err != nil {
					return err
				}
				req.Password = pw
			}
			var u api.CreatedUser
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/users", body: req, notFound: "a --group named may not exist: 'accessctl group list' shows the groups"}, &u); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				if u.Password != "" {
					c.ctl.noteShownOnce("password")
				}
				return c.ctl.printJSON(u)
			}
			fmt.Fprintf(c.ctl.stdout, "user %s created (id %s)\n", u.Username, u.ID)
			if u.Password != "" {
				fmt.Fprintf(c.ctl.stdout, "password: %s\n(%s)\n", u.Password, shownOnce)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Username, "username", "", "login `name` (required)")
	f.StringVar(&req.Email, "email", "", "e-mail `address` (required)")
	f.StringVar(&req.PhoneNumber, "phone-number", "", "mobile `number` in E.164 (+4915112345678), where SMS codes go")
	f.StringVar(&req.FirstName, "first-name", "", "first `name`")
	f.StringVar(&req.LastName, "last-name", "", "last `name`")
	f.StringArrayVar(&req.Groups, "group", nil, "`group` to join; repeat for more")
	tenantFlag(f, &tenant)
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin instead of having one generated")
	_ = cmd.MarkFlagRequired("username")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func (c userCmds) list() *cobra.Command {
	var group, status string
	var page, limit int
	cmd := &cobra.Command{
		Use:   "list [--group G] [--status enabled|disabled] [--page N] [--limit N]",
		Short: "list users (every page, or the one --page names)",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if cmd.Flags().Changed("group") {
				q.Set("group", group)
			}
			if cmd.Flags().Changed("status") {
				if status != "enabled" && status != "disabled" {
					return usageErr(cmd.CommandPath(), "--status must be enabled or disabled, got %q", status)
				}
				q.Set("status", status)
			}
			for _, p := range []struct {
				name string
				n    int
			}{{"page", page}, {"limit", limit}} {
				if cmd.Flags().Changed(p.name) {
					if err := positive(cmd.CommandPath(), p.name, p.n); err != nil {
						return err
					}
					q.Set(p.name, strconv.Itoa(p.n))
				}
			}
			// Without --page, every page, by the daemon's Link headers;
			// with it, that page alone.
			lc := call{method: http.MethodGet, path: "/v1/users", query: q, notFound: "the --group may not exist: 'accessctl group list' shows the groups"}
			var users []api.User
			var next string
			var err error
			if cmd.Flags().Changed("page") {
				lc.next = &next
				_, err = c.ctl.cl.do(cmd.Context(), lc, &users)
			} else {
				users, err = getAll[api.User](cmd.Context(), c.ctl.cl, lc)
			}
			if err != nil {
				return err
			}
			if users == nil {
				users = []api.User{}
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(users)
			}
			if len(users) == 0 {
				fmt.Fprintln(c.ctl.stdout, "no users")
			} else {
				tw := c.ctl.table()
				fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tEMAIL\tGROUPS\tSTATUS\tMFA")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, cell(fullName(u)), u.Email, list(u.Groups), enabled(u.Enabled), onOff(u.MFA))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if next != "" {
				fmt.Fprintf(c.ctl.stdout, "more users: run again with --page %d\n", page+1)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "only members of `group`")
	f.StringVar(&status, "status", "", "only `enabled` or disabled users")
	f.IntVar(&page, "page", 1, "only page `number` (from 1); without it, every page")
	f.IntVar(&limit, "limit", 0, "users per page (`N`; the daemon's default when unset)")
	return cmd
}

func (c userCmds) get() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID|USERNAME",
		Short: "show a user",
		Args:  exactArgs("ID|USERNAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var u api.User
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: route("/v1/users", args[0]), notFound: userNotFound}, &u); err != nil {
				return err
			}
			return c.show(u)
		}),
	}
}

func (c userCmds) update() *cobra.Command {
	var first, last, email, phone, tenant string
	var groups []string
	var clearGroups bool
	cmd := &cobra.Command{
		Use:   "update ID [--first-name F] [--last-name L] [--email E] [--phone-number +E164] [--group G]... [--clear-groups] [--tenant ID[:SLUG]]",
		Short: "change a user; only the flags given are changed, and --group replaces the user's groups",
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var req api.UpdateUserRequest
			f := cmd.Flags()
			if f.Changed("first-name") {
				req.FirstName = &first
			}
			if f.Changed("last-name") {
				req.LastName = &last
			}
			if f.Changed("email") {
				if strings.TrimSpace(email) == "" {
					return usageErr(cmd.CommandPath(), "--email must not be empty")
				}
				req.Email = &email
			}
			if f.Changed("phone-number") {
				req.PhoneNumber = &phone
			}
			if f.Changed("tenant") {
				id, slug := splitTenant(tenant)
				req.TenantID, req.TenantSlug = &id, &slug
			}
			if f.Changed("group") && clearGroups {
				return usageErr(cmd.CommandPath(), "--group and --clear-groups exclude each other")
			}
			switch {
			case f.Changed("group"):
				req.Groups = &groups
			case clearGroups:
				none := []string{}
				req.Groups = &none
			}
			if req == (api.UpdateUserRequest{}) {
				return usageErr(cmd.CommandPath(), "nothing to change: give at least one of --first-name, --last-name, --email, --phone-number, --group, --clear-groups, --tenant")
			}
			var u api.User
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPatch, path: route("/v1/users", args[0]), body: req, notFound: userNotFound + "; a --group named may not exist"}, &u); err != nil {
				return err
			}
			return c.show(u)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&first, "first-name", "", "new first `name`")
	f.StringVar(&last, "last-name", "", "new last `name`")
	f.StringVar(&email, "email", "", "new e-mail `address`")
	f.StringVar(&phone, "phone-number", "", "new mobile `number` in E.164; \"\" removes it")
	f.StringArrayVar(&groups, "group", nil, "`group` the user is in afterwards; repeat for more; replaces the list")
	f.BoolVar(&clearGroups, "clear-groups", false, "remove the user from every group")
	tenantFlag(f, &tenant)
	return cmd
}

// simple is a verb on one user whose route takes no body: delete (204),
// disable and enable (User), logout (204).
func (c userCmds) simple(verb, short, method, sub, done string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			path := route("/v1/users", args[0])
			if sub != "" {
				path += "/" + sub
			}
			var u api.User
			status, err := c.ctl.cl.do(cmd.Context(), call{method: method, path: path, notFound: userNotFound}, &u)
			if err != nil {
				return err
			}
			if status == http.StatusNoContent {
				if c.ctl.isJSON() {
					return c.ctl.printJSON(outcome{Kind: "user", ID: args[0], Result: strings.ReplaceAll(done, " ", "-")})
				}
				fmt.Fprintf(c.ctl.stdout, "user %s %s\n", args[0], done)
				return nil
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(u)
			}
			fmt.Fprintf(c.ctl.stdout, "user %s (id %s) %s\n", u.Username, u.ID, done)
			return nil
		}),
	}
}

func (c userCmds) resetPassword() *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password ID [--password-stdin]",
		Short: "set a user's password from stdin, or have accessd generate a one-time password, shown once",
		Args:  exactArgs("ID"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var req api.ResetPasswordRequest
			if pwStdin {
				pw, err := c.ctl.readPassword(cmd.CommandPath())
				if err != nil {
					return err
				}
				req.NewPassword = pw
			}
			var pr api.PasswordReset
			status, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPatch, path: route("/v1/users", args[0]) + "/reset-password", body: req, notFound: userNotFound}, &pr)
			if err != nil {
				return err
			}
			if status == http.StatusNoContent || pr.Password == "" {
				if c.ctl.isJSON() {
					return c.ctl.printJSON(outcome{Kind: "user", ID: args[0], Result: "password-set"})
				}
				fmt.Fprintf(c.ctl.stdout, "password of user %s set\n", args[0])
				return nil
			}
			if c.ctl.isJSON() {
				c.ctl.noteShownOnce("password")
				return c.ctl.printJSON(pr)
			}
			fmt.Fprintf(c.ctl.stdout, "one-time password of user %s: %s\n(%s; the user must change it with update-password before using it for anything else)\n", args[0], pr.Password, shownOnce)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the new password from the first line of stdin instead of having a one-time one generated")
	return cmd
}

// show prints one user in detail.
func (c userCmds) show(u api.User) error {
	if c.ctl.isJSON() {
		return c.ctl.printJSON(u)
	}
	tw := c.ctl.table()
	fmt.Fprintf(tw, "id:\t%s\n", u.ID)
	fmt.Fprintf(tw, "username:\t%s\n", u.Username)
	fmt.Fprintf(tw, "name:\t%s\n", cell(fullName(u)))
	fmt.Fprintf(tw, "email:\t%s\n", u.Email)
	if u.PhoneNumber != "" {
		fmt.Fprintf(tw, "phone:\t%s\n", u.PhoneNumber)
	}
	fmt.Fprintf(tw, "groups:\t%s\n", list(u.Groups))
	fmt.Fprintf(tw, "status:\t%s\n", enabled(u.Enabled))
	fmt.Fprintf(tw, "mfa:\t%s\n", onOff(u.MFA))
	printTenant(tw, u.TenantID, u.TenantSlug)
	if u.MustChangePassword {
		fmt.Fprintf(tw, "password:\tmust be changed before use\n")
	}
	fmt.Fprintf(tw, "created:\t%s\n", fmtTime(u.CreatedAt))
	fmt.Fprintf(tw, "updated:\t%s\n", fmtTime(u.UpdatedAt))
	return tw.Flush()
}

func fullName(u api.User) string { return strings.TrimSpace(u.FirstName + " " + u.LastName) }

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// outcome is the JSON document of a command whose route answers 204 No
// Content: the api has no type for it, and -o json promises a document.
type outcome struct {
	Kind   string `json:"kind"` // "user", "group", "app", "member"
	ID     string `json:"id"`
	Group  string `json:"group,omitempty"` // for members
	Result string `json:"result"`
}

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// ctl is one run of accessctl: its streams, its global flags and, once
// the flags are parsed, its client. Each noun's commands are a small type
// over it (userCmds, groupCmds, ...) that shares these and the helpers
// every command uses: output, reading secrets and files, and run errors.
// The noun types hold it as a named field, not embedded, so that its
// methods do not count in theirs (issue 17: at most 20 in a method set).
type ctl struct {
	env
	socket string
	output string
	cl     *client
}

// usageTemplate is cobra's, in the lower-case style of accessd's other
// messages; the man page and completion come from the same tree.
const usageTemplate = `usage: {{.UseLine}}{{if .HasAvailableSubCommands}}

commands:{{range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}}  {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

global flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasExample}}

examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

run '{{.CommandPath}} COMMAND --help' for more about a command{{end}}
`

// newRoot builds the whole command table.
func newRoot(e env) *cobra.Command {
	c := &ctl{env: e}
	root := &cobra.Command{
		Use:   "accessctl [--socket PATH] [-o json|table] NOUN VERB [ARGS] [FLAGS]",
		Short: "administer a local accessd over its admin socket",
		Long: `accessctl administers a local accessd over its admin socket: users, groups and
their permissions, machine-to-machine applications, policy as code, the
audit log, the access review, field-key rotation and backups.

The socket is /run/accessd/admin.sock unless --socket or ACCESSD_SOCKET says
otherwise; root and members of the accessd-admin group may use it. With
-o json every command prints one JSON document on stdout. Errors go to
stderr with a hint at what to do next.

accessctl never takes a secret on its command line: passwords are read
from stdin (--password-stdin). A secret the daemon generates (a password,
a client secret) is printed once and cannot be retrieved again.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              c.subcommandArgs,
		RunE:              c.noVerb,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return c.setup(cmd)
		},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetUsageTemplate(usageTemplate)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr(cmd.CommandPath(), "%v", err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&c.socket, "socket", defaultSocket, "admin socket `path` (env ACCESSD_SOCKET)")
	pf.StringVarP(&c.output, "output", "o", "table", "output `format`: json or table")

	root.AddCommand(
		statusCmds{c}.command(),
		userCmds{c}.command(),
		groupCmds{c}.command(),
		appCmds{c}.command(),
		providerCmds{c}.command(),
		applyCmds{c}.command(),
		importCmds{c}.command(),
		auditCmds{c}.command(),
		reviewCmds{c}.command(),
		keyCmds{c}.command(),
		backupCmds{c}.command(),
		docCmds{c}.man(),
		docCmds{c}.completion(),
	)
	walk(root, func(cmd *cobra.Command) {
		cmd.DisableFlagsInUseLine = true
		cmd.SuggestionsMinimumDistance = 2
		cmd.Flags().SortFlags = false
	})
	return root
}

// setup checks the global flags and opens the client; it runs before
// every command.
func (c *ctl) setup(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("socket") {
		if s := c.getenv("ACCESSD_SOCKET"); s != "" {
			c.socket = s
		}
	}
	if c.output != "json" && c.output != "table" {
		return usageErr(cmd.CommandPath(), "-o must be json or table, got %q", c.output)
	}
	c.cl = newClient(c.socket)
	return nil
}

// walk calls fn on cmd and every command below it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, sub := range cmd.Commands() {
		walk(sub, fn)
	}
}

// noun makes a command that only groups verbs.
func (c *ctl) noun(use, short string, verbs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use + " COMMAND", Short: short, Args: c.subcommandArgs, RunE: c.noVerb}
	cmd.AddCommand(verbs...)
	return cmd
}

// subcommandArgs refuses a word that names no command below cmd. Cobra
// would otherwise pass it on as an argument of a command that takes none.
func (c *ctl) subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageErr(cmd.CommandPath(), "%s", msg)
}

// noVerb answers a noun (or accessctl) given without a command: the
// usage on stderr and exit 2.
func (c *ctl) noVerb(cmd *cobra.Command, _ []string) error {
	fmt.Fprint(c.stderr, cmd.UsageString())
	return &cliError{code: exitUsage, msg: "missing command: " + cmd.CommandPath() + " COMMAND"}
}

// exactArgs wants exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErr(cmd.CommandPath(), "missing %s", strings.Join(names[len(args):], " and "))
		case len(args) > len(names):
			return usageErr(cmd.CommandPath(), "unexpected argument %q", args[len(names)])
		}
		for i, a := range args {
			if strings.TrimSpace(a) == "" {
				return usageErr(cmd.CommandPath(), "%s must not be empty", names[i])
			}
		}
		return nil
	}
}

// runE adapts a command body: any error it returns that is not already a
// *cliError is a failure of the command (exit 1), not a usage error.
func (c *ctl) runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err == nil {
			return nil
		}
		var ce *cliError
		if errors.As(err, &ce) {
			return ce
		}
		return &cliError{code: exitError, msg: err.Error()}
	}
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// docCmds is the hidden `accessctl man` and `accessctl completion` that scripts/package runs.
type docCmds struct{ ctl *ctl }

// man prints accessctl(1) for scripts/package. It is rendered here,
// over the command tree, rather than with cobra/doc: cobra/doc writes one
// page per command through a Markdown converter (two more dependencies),
// while accessctl has one page that lists every command, the way
// systemctl(1) and git's short pages do.
func (c docCmds) man() *cobra.Command {
	return &cobra.Command{
		Use:    "man",
		Short:  "print the accessctl(1) man page (roff)",
		Hidden: true,
		Args:   exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			return writeMan(c.ctl.stdout, cmd.Root())
		}),
	}
}

// completion prints shell completion for scripts/package. The bash
// script is cobra's static one: it names every command and flag itself
// instead of running accessctl at each <TAB>.
func (c docCmds) completion() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "completion SHELL",
		Short:  "print a shell completion script",
		Hidden: true,
		Args:   c.ctl.subcommandArgs,
		RunE:   c.ctl.noVerb,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "bash",
		Short: "print the bash completion script (for /usr/share/bash-completion/completions/accessctl)",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			return cmd.Root().GenBashCompletion(c.ctl.stdout)
		}),
	})
	return cmd
}

// manCommands lists, in tree order, every command the man page and the
// completion cover: the runnable, non-hidden commands other than help.
func manCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var visit func(*cobra.Command)
	visit = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			if !sub.IsAvailableCommand() || sub.Name() == "help" {
				continue
			}
			if !sub.HasAvailableSubCommands() {
				out = append(out, sub)
			}
			visit(sub)
		}
	}
	visit(root)
	return out
}

// writeMan renders root's tree as one roff page.
func writeMan(w io.Writer, root *cobra.Command) error {
	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }

	p(`.TH ACCESSCTL 1 "" "accessd" "accessd manual"`)
	p(".SH NAME")
	p(`accessctl \- %s`, roff(root.Short))
	p(".SH SYNOPSIS")
	p(`\fBaccessctl\fR %s`, roff(strings.TrimPrefix(root.UseLine(), root.Name()+" ")))
	p(".SH DESCRIPTION")
	paragraphs(b, root.Long)

	p(".SH OPTIONS")
	p("These global options go before or after the command.")
	manFlags(b, root.PersistentFlags())
	p(".TP")
	p(`\fB\-h\fR, \fB\-\-help\fR`)
	p("Show the usage of accessctl or of a command.")

	p(".SH COMMANDS")
	for _, cmd := range manCommands(root) {
		p(`.SS "%s"`, roff(cmd.CommandPath()))
		p(`\fB%s\fR%s`, roff(cmd.CommandPath()), roff(strings.TrimPrefix(cmd.UseLine(), cmd.CommandPath())))
		p(".PP")
		if cmd.Long != "" {
			paragraphs(b, cmd.Long)
		} else {
			p("%s.", roff(upperFirst(cmd.Short)))
		}
		manFlags(b, cmd.LocalNonPersistentFlags())
		if cmd.Example != "" {
			p(".PP")
			p("Examples:")
			p(".RS")
			p(".nf")
			for _, l := range strings.Split(cmd.Example, "\n") {
				p("%s", roff(strings.TrimSpace(l)))
			}
			p(".fi")
			p(".RE")
		}
	}

	p(".SH ENVIRONMENT")
	p(".TP")
	p(`\fBACCESSD_SOCKET\fR`)
	p(`The admin socket, when \fB\-\-socket\fR is not given.`)
	p(".SH FILES")
	p(".TP")
	p(`\fI%s\fR`, roff(defaultSocket))
	p("The admin socket of accessd: mode 0660, group accessd\\-admin; accessd checks each caller's credentials.")
	p(".SH EXIT STATUS")
	for _, e := range []struct {
		code int
		what string
	}{
		{exitOK, "Success."},
		{exitError, "The command failed; the message on stderr says why and what to do next (also: audit verify found a broken chain)."},
		{exitUsage, "The command line is wrong: unknown command or flag, missing argument, invalid value."},
		{exitUnavailable, "accessd cannot be reached: the daemon is not running or the socket path is wrong."},
		{exitNoPerm, "Not allowed: the socket refused the connection, or accessd refused the request (HTTP 403)."},
	} {
		p(".TP")
		p(`\fB%d\fR`, e.code)
		p("%s", roff(e.what))
	}
	p(".SH SEE ALSO")
	p(`\fBaccessd\fR(1), \fBsystemctl\fR(1), \fBjournalctl\fR(1)`)
	return b.Flush()
}

// manFlags lists flags as .TP entries, help aside.
func manFlags(b *bufio.Writer, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		head := `\fB\-\-` + roff(f.Name) + `\fR`
		if f.Shorthand != "" {
			head = `\fB\-` + roff(f.Shorthand) + `\fR, ` + head
		}
		if name != "" && f.Value.Type() != "bool" {
			head += ` \fI` + roff(name) + `\fR`
		}
		switch f.DefValue {
		case "", "false", "0", "[]":
		default:
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", head, roff(upperFirst(usage)))
	})
}

// paragraphs writes text as filled roff paragraphs, one per blank-line
// separated block.
func paragraphs(b *bufio.Writer, text string) {
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		for _, l := range strings.Split(para, "\n") {
			b.WriteString(roff(strings.TrimSpace(l)) + "\n")
		}
	}
}

// roff escapes text for a roff text line: backslashes, hyphens (so
// options read as minus signs and can be searched for), characters
// outside ASCII (as \[uXXXX]), and a leading control character.
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/storetest/testkit"
)

// publicCommands walks the tree on its own (not through manCommands, which
// the page is made with) and lists every command a user can see, with the
// flags it declares itself.
func publicCommands(t *testing.T) map[string][]string {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(testEnv("", &out, &errb))
	cmds := map[string][]string{}
	var visit func(*cobra.Command)
	visit = func(cmd *cobra.Command) {
		if cmd.Hidden {
			return
		}
		var flags []string
		cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && f.Name != "help" {
				flags = append(flags, "--"+f.Name)
			}
		})
		cmds[cmd.CommandPath()] = flags
		for _, sub := range cmd.Commands() {
			visit(sub)
		}
	}
	visit(root)
	require.GreaterOrEqual(t, len(cmds), 33, "the tree has the nouns and their verbs")
	return cmds
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run(args, testEnv("", &out, &errb)), errb.String())
	require.Empty(t, errb.String())
	return out.String()
}

// deroff undoes the escapes writeMan makes, so a test can search the text.
func deroff(s string) string {
	return strings.NewReplacer(`\-`, "-", `\fB`, "", `\fI`, "", `\fR`, "", `\&`, "", `\e`, `\`).Replace(s)
}

// TestManAndCompletionCoverEveryCommand keeps the man page and the bash
// completion from drifting from the command table: both are generated
// from it, and this says so for every visible command and flag.
func TestManAndCompletionCoverEveryCommand(t *testing.T) {
	t.Parallel()
	cmds := publicCommands(t)
	page := runOK(t, "man")
	text := deroff(page)
	bash := runOK(t, "completion", "bash")

	for path, flags := range cmds {
		if path == "accessctl" {
			continue
		}
		require.Contains(t, text, "\n.SS \""+path, "man page has a section for %s", path)
		fn := "_" + strings.ReplaceAll(path, " ", "_") + "()"
		require.Contains(t, bash, fn, "bash completion knows %s", path)
		for _, f := range flags {
			require.Contains(t, text, f, "man page names %s of %s", f, path)
			require.Contains(t, bash, `"`+f, "bash completion knows %s of %s", f, path)
		}
	}
	for _, global := range []string{"--socket", "--output", "ACCESSD_SOCKET", "/run/accessd/admin.sock", "69", "77"} {
		require.Contains(t, text, global)
	}
	for _, hidden := range []string{"accessctl man", "accessctl completion"} {
		require.NotContains(t, text, ".SS \""+hidden, "hidden commands stay out of the page")
	}

	testkit.Golden(t, "accessctl.1.golden", []byte(page))
}

// TestManPageIsValidRoff renders the page with groff and fails on any
// warning, when groff is installed.
func TestManPageIsValidRoff(t *testing.T) {
	t.Parallel()
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed")
	}
	page := runOK(t, "man")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Empty(t, stderr.String(), "groff warnings")
}

func TestRoffEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"--socket", `\-\-socket`},
		{`C:\path`, `C:\epath`},
		{".TH injected", `\&.TH injected`},
		{"'quoted", `\&'quoted`},
		{"plain text", "plain text"},
		{"get, …", `get, \[u2026]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, roff(tt.in))
		})
	}
}

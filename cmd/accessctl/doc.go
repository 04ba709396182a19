// Command accessctl administers a local accessd over its admin socket.
//
//	accessctl [--socket PATH] [-o json|table] NOUN VERB [ARGS] [FLAGS]
//
// ACCESSD_SOCKET overrides the default socket. With -o json every command
// prints one JSON document on stdout; errors go to stderr with a non-zero
// exit status and a hint at what to do next.
//
// The commands are one table (cobra), so that help, flag parsing, the
// accessctl(1) man page and bash completion all come from the same tree
// and cannot drift apart. The table is built by noun: each noun's verbs
// are the methods of its own small type (userCmds, groupCmds, appCmds,
// ...) over ctl, the one run, which holds the client, the streams and the
// output format they share. Each command maps to one admin route of
// oauth/api (identity.go lists them), sends the api request type and
// decodes the api answer type.
//
// # Secrets
//
// accessctl never takes a secret on its command line (it would land in
// shell history and in /proc/PID/cmdline): passwords come from stdin with
// --password-stdin. It prints a secret only when the daemon has just
// minted it and will never show it again (a generated password, a new
// client secret), and says so next to it.
//
// # Adding a command
//
// Write a method of the noun's type that returns the *cobra.Command (Use
// is the synopsis line the help and the man page show; Args is
// exactArgs(...) or memberArgs; RunE goes through c.runE), add it to the
// noun's command(), and add a case to goldenCases in golden_test.go with
// the request it must send; go test -update writes its golden files. Usage errors are *cliError
// from usageErr; everything cobra itself refuses is exit 2 as well. The
// man page and completion pick the command up, and a test checks that
// they do.
package main

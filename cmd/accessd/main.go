// Command accessd is the access manager daemon: init, serve, check,
// recover, reseal, restore, rekey-recovery, version. It parses flags and wires; the behaviour lives
// in package daemon.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/accessd/accessd/daemon"
	"github.com/accessd/accessd/daemon/ceremony"
	"github.com/accessd/accessd/seal"
)

// Set by the build (scripts/package: -ldflags "-X main.version=… -X
// main.commit=… -X main.buildTime=…").
var (
	version   = "dev"
	commit    = ""
	buildTime = "" // RFC 3339
)

// serviceUser is the account init must run as on a packaged install; a
// variable so the tests can name an account that exists on the test host.
var serviceUser = daemon.ServiceUser

// Exit codes that mean something to scripts and systemd.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitLockdown = 3  // host checks refused the start / `check` found failures
	exitNotInit  = 4  // no store: run `accessd init` or restore one
	exitTPM      = 5  // no TPM answered, or its slots are full (restart may help once it is back)
	exitRollback = 6  // the store is behind the TPM's rollback counter
	exitDisk     = 7  // the data dir's disk is below the hard free-space floor
	exitConfig   = 78 // EX_CONFIG
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// action is a command's work, run after its flags are parsed.
type action func(stdout, stderr io.Writer, log *slog.Logger) error

// command is one entry of the command table. The table is the single
// source of the usage text, of the accessd(8) man page and of the bash
// completion (`accessd man`, `accessd completion bash`), so they cannot
// drift from the flags the binary accepts.
type command struct {
	name    string
	summary string // one line, for the usage text and the man page
	about   string // the man page's paragraph
	hidden  bool   // not in the usage text (packaging helpers)
	args    bool   // takes positional arguments
	// flags registers the command's flags on fs and returns what to run.
	flags func(fs *flag.FlagSet) action
}

// commands is the command table, in the order usage lists them.
var commands []command

func init() {
	commands = []command{
		{name: "init", flags: initFlags,
			summary: "create the data dir, seal a new root key, print the recovery key and admin password once",
			about: "Creates the data dir, seals a new 32-byte root key to the TPM (bound to seal.pcrs), writes the recovery file, seeds the default groups and an admin user, and prints the recovery key and the admin's one-time password once. " +
				"Refuses to touch an existing store. On a packaged install run it as the service user: sudo -u accessd accessd init. A failed init removes what it made."},
		{name: "serve", flags: serveFlags,
			summary: "check the host, unseal, open the store and serve both planes",
			about: "Checks the host, takes the data-dir lock, unseals the root key, opens the store, takes the sockets systemd passes (fd names tls and admin) or binds its own, and notifies systemd (READY=1, watchdog). " +
				"SIGHUP reloads the TLS certificate; SIGTERM drains and stops. With --dev: in-process TPM simulator (or a swtpm child when built without cgo), self-signed TLS on 127.0.0.1:8443, data in ./accessd-dev, first run initialises."},
		{name: "check", flags: checkFlags,
			summary: "run the host lockdown checks and print every finding",
			about:   "Runs the host lockdown checks that serve runs before unsealing and prints each finding with its fix. Exits 0 only when none fails."},
		{name: "recover", flags: recoverFlags,
			summary: "re-seal the root key to this TPM using the recovery key",
			about: "Unwraps the root key with the recovery key printed by init, proves it opens this store, and re-seals it to the TPM in hand (after a TPM was cleared or replaced, or PCRs changed), to the PCRs root.sealed records (seal.pcrs when it cannot be read). " +
				"With --check-key it only says whether the key (or M shares) opens root.recovery, and whether it is the key in effect or the new key of a pending rekey-recovery; it changes nothing. " +
				"On a TPM that was cleared or replaced it first binds the store to a new rollback counter on it (audited). When the store is behind the counter of the TPM it was bound to, it exits 6 naming --accept-rollback. " +
				"With --accept-rollback it also binds the store to the TPM's rollback counter as it is now, after serve refused to start with exit code 6 (rollback detected); this brings back whatever the older copy holds, and is recorded in the audit log."},
		{name: "reseal", flags: resealFlags,
			summary: "re-seal the root key to this TPM, or ahead of a planned PCR change",
			about: "Unseals the root key and seals it again, to the current values of the PCRs --pcrs names or, without it, of the PCRs root.sealed records. " +
				"Before a planned firmware or Secure Boot change, --pcr-values INDEX=sha256:HEX,... gives the values the PCRs will hold after it: the key then opens with the current values and with those (TPM2_PolicyOR), never unbound, and the first serve on the new values re-seals it to them alone."},
		{name: "restore", flags: restoreFlags,
			summary: "build a new data dir on this host from a backup file and the recovery key",
			about: "Reads a file written by accessctl backup, unwraps the root key with the recovery key (or M of its shares) that was in effect when the backup was taken, seals it to this TPM (seal.pcrs), writes root.recovery and restores the store, then verifies and extends its audit chain. " +
				"The data dir must be absent or empty; a failed restore removes what it made."},
		{name: "rekey-recovery", flags: rekeyFlags,
			summary: "replace the recovery key: print the new one once, retire the old one with --finish",
			about: "Unwraps root.recovery with the current recovery key (or M of its shares), wraps the root key under a new recovery key beside the old wrap, and prints the new key once (or as shares with --recovery-shares and --recovery-threshold; or into a new 0600 file with --out). " +
				"Until --finish both keys open root.recovery, so a print that fails or a killed run never leaves the operator without a key. Then: accessd recover --check-key --recovery-key-file NEW, and accessd rekey-recovery --finish --recovery-key-file NEW, after which only the new key works; " +
				"--abort --recovery-key-file OLD drops a new key that never arrived. A second rekey while one is pending is refused. " +
				"Backups taken before --finish carry the old wrapped key and need the old recovery key: take a fresh backup."},
		{name: "version", flags: versionFlags,
			summary: "print the version",
			about:   "Prints the version, the commit and the build time stamped into the binary."},
		{name: "man", hidden: true, flags: manFlags,
			summary: "print the accessd(8) man page (roff)"},
		{name: "completion", hidden: true, args: true, flags: completionFlags,
			summary: "print the bash completion script: accessd completion bash"},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: accessd COMMAND [FLAGS]\n\ncommands:\n")
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(&b, "  %-15s %s\n", c.name, c.summary)
		}
	}
	b.WriteString("\nRun 'accessd COMMAND -h' for a command's flags.\n")
	return b.String()
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Everything accessd creates (store files, sealed key, dev TLS key) is
	// for its own user only, whatever umask it was started with.
	syscall.Umask(0o077)
	name, rest := args[0], args[1:]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "accessd: unknown command %q\n\n%s", name, usage())
		return exitUsage
	}
	fs := newFlags(name, stderr)
	act := cmd.flags(fs)
	err := parse(fs, rest, cmd.args)
	if err == nil {
		err = act(stdout, stderr, log)
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "accessd:", err)
	var ue usageError
	var ce *daemon.ConfigError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce):
		return exitConfig
	case errors.Is(err, daemon.ErrLockdown), errors.Is(err, errCheckFailed):
		return exitLockdown
	case errors.Is(err, daemon.ErrNotInitialised):
		return exitNotInit
	case errors.Is(err, daemon.ErrRollback):
		return exitRollback
	case errors.Is(err, seal.ErrNoDevice), errors.Is(err, seal.ErrTPMFull):
		return exitTPM
	case errors.Is(err, daemon.ErrDiskFloor):
		return exitDisk
	}
	return exitFailure
}

type usageError struct{ error }

// common are the flags every command that reads the config shares.
type common struct {
	config, dataDir string
	listen          string // serve only
	dev             bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config `file` (default "+daemon.DefaultConfigFile+"; with --dev, none)")
	fs.StringVar(&c.dataDir, "data-dir", "", "data `dir` (overrides data_dir)")
	fs.BoolVar(&c.dev, "dev", false, "development mode: in-process TPM simulator, self-signed TLS, ./accessd-dev; never for production")
}

func (c *common) load() (daemon.Config, error) {
	if c.dev {
		return daemon.DevConfig(c.config, c.dataDir, c.listen)
	}
	path := c.config
	if path == "" {
		path = daemon.DefaultConfigFile
	}
	cfg, err := daemon.LoadConfig(path)
	if err != nil {
		return cfg, err
	}
	if c.dataDir != "" {
		if c.dataDir, err = filepath.Abs(c.dataDir); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Override(c.dataDir, c.listen)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("accessd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string, positional bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 && !positional {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func initFlags(fs *flag.FlagSet) action {
	var c common
	var split ceremony.RecoveryShares
	c.register(fs)
	splitFlags(fs, &split)
	return func(stdout, stderr io.Writer, log *slog.Logger) error { return cmdInit(&c, split, stdout, log) }
}

func cmdInit(c *common, split ceremony.RecoveryShares, stdout io.Writer, log *slog.Logger) error {
	if err := split.Check(); err != nil {
		return usageError{err}
	}
	if err := refuseRootInit(c); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if c.dev {
		log.Warn("--dev: the root key is sealed to an in-process TPM simulator whose seed sits in the data dir; not for production", "event", "dev.mode")
	}
	return ceremony.Init(cfg.Ceremony(), ceremony.InitOptions{Dev: c.dev, Out: stdout, Log: log, Split: split})
}

func serveFlags(fs *flag.FlagSet) action {
	var c common
	c.register(fs)
	fs.StringVar(&c.listen, "listen", "", "TLS `address` of the data plane (overrides listen.tls)")
	return func(stdout, stderr io.Writer, log *slog.Logger) error { return cmdServe(&c, stdout, log) }
}

func cmdServe(c *common, stdout io.Writer, log *slog.Logger) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if c.dev {
		log.Warn("--dev: simulator TPM, self-signed TLS, lockdown findings as warnings; never for production", "event", "dev.mode")
	}
	return daemon.Serve(context.Background(), cfg, daemon.Options{
		Dev: c.dev, Out: stdout, Log: log, Version: version, BuildTime: parseBuildTime(),
	})
}

var errCheckFailed = errors.New("host lockdown checks failed")

func versionFlags(fs *flag.FlagSet) action {
	return func(stdout, stderr io.Writer, log *slog.Logger) error {
		fmt.Fprintf(stdout, "accessd %s", version)
		if commit != "" {
			fmt.Fprintf(stdout, " (commit %s", commit)
			if buildTime != "" {
				fmt.Fprintf(stdout, ", built %s", buildTime)
			}
			fmt.Fprint(stdout, ")")
		}
		fmt.Fprintln(stdout)
		return nil
	}
}

// refuseRootInit stops `accessd init` run as root on a host with the
// service user (a packaged install): the data dir and sealed key must
// belong to the user the unit runs as, so it says the line to run instead.
func refuseRootInit(c *common) error {
	if c.dev || os.Geteuid() != 0 {
		return nil
	}
	if _, err := user.Lookup(serviceUser); err != nil {
		return nil // no packaged layout here: root owns what it makes
	}
	line := "sudo -u " + serviceUser + " accessd init"
	if c.config != "" {
		line += " --config " + c.config
	}
	if c.dataDir != "" {
		line += " --data-dir " + c.dataDir
	}
	return usageError{fmt.Errorf("init runs as the service user, so the data dir and sealed key belong to it; run:\n\n    %s\n", line)}
}

func checkFlags(fs *flag.FlagSet) action {
	var c common
	var asJSON bool
	c.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print the findings as one JSON document")
	return func(stdout, stderr io.Writer, log *slog.Logger) error { return cmdCheck(&c, asJSON, stdout, log) }
}

func cmdCheck(c *common, asJSON bool, stdout io.Writer, log *slog.Logger) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	rep := daemon.CheckHost(cfg, c.dev, parseBuildTime(), log)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if rep.Failed() {
		return errCheckFailed
	}
	return nil
}

func recoverFlags(fs *flag.FlagSet) action {
	var c common
	var ri recoveryInput
	var acceptRollback, checkKey bool
	c.register(fs)
	ri.register(fs, "`file` holding the recovery key printed by init (- for stdin)")
	fs.BoolVar(&acceptRollback, "accept-rollback", false, "also bind the store to the TPM's rollback counter as it is now (after serve exited 6: rollback detected); audited")
	fs.BoolVar(&checkKey, "check-key", false, "only check that the key (or M shares) opens root.recovery and say which wrap; changes nothing")
	return func(stdout, stderr io.Writer, log *slog.Logger) error {
		if checkKey && acceptRollback {
			return usageError{errors.New("--check-key changes nothing: drop --accept-rollback")}
		}
		return cmdRecover(&c, &ri, acceptRollback, checkKey, stdout, log)
	}
}

func cmdRecover(c *common, ri *recoveryInput, acceptRollback, checkKey bool, stdout io.Writer, log *slog.Logger) error {
	text, cfg, err := ri.readWith(c)
	if err != nil {
		return err
	}
	defer clear(text)
	if checkKey {
		return ceremony.CheckRecoveryKey(cfg.Ceremony(), text, stdout)
	}
	// A store that disagrees with this TPM's counter is what
	// --accept-rollback is for; without it, Recover's error names it.
	if err := ceremony.Recover(cfg.Ceremony(), c.dev, text, log); err != nil && !(acceptRollback && errors.Is(err, daemon.ErrRollback)) {
		return err
	}
	if acceptRollback {
		if err := ceremony.AcceptRollback(cfg.Ceremony(), c.dev, text, log); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rollback accepted: the store is bound to this TPM's rollback counter (recorded in the audit log)")
	}
	printSealed(stdout, cfg)
	fmt.Fprintln(stdout, "start accessd again")
	return nil
}

func resealFlags(fs *flag.FlagSet) action {
	var c common
	var pcrs, values string
	c.register(fs)
	fs.StringVar(&pcrs, "pcrs", "", "comma-separated PCR `list` to bind to, e.g. 7 or 0,7; \"none\" for no PCRs (default: the PCRs root.sealed is bound to)")
	fs.StringVar(&values, "pcr-values", "", "planned PCR `values` after a firmware or Secure Boot change, e.g. 7=sha256:HEX; the key opens with the current and with these until the first start on them")
	return func(stdout, stderr io.Writer, log *slog.Logger) error {
		return cmdReseal(&c, pcrs, values, stdout, log)
	}
}

func cmdReseal(c *common, pcrs, values string, stdout io.Writer, log *slog.Logger) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	var opt ceremony.ResealOptions
	if pcrs != "" {
		if cfg.Seal.PCRs, err = parsePCRs(pcrs); err != nil {
			return usageError{err}
		}
		if err := cfg.Override("", ""); err != nil { // range, order, duplicates
			return err
		}
		opt.PCRs = cfg.Seal.PCRs
	}
	if values != "" {
		if opt.Planned, err = seal.ParsePCRValues(values); err != nil {
			return usageError{fmt.Errorf("--pcr-values: %w", err)}
		}
	}
	if err := ceremony.Reseal(cfg.Ceremony(), c.dev, opt, log); err != nil {
		return err
	}
	printSealed(stdout, cfg)
	return nil
}

// printSealed says what root.sealed is bound to now.
func printSealed(stdout io.Writer, cfg daemon.Config) {
	info, err := ceremony.ReadSealedInfo(cfg.Ceremony())
	if err != nil {
		fmt.Fprintln(stdout, "root key re-sealed to this TPM")
		return
	}
	pcrs := make([]int, len(info.PCRs))
	for i, p := range info.PCRs {
		pcrs[i] = p.Index
	}
	fmt.Fprintf(stdout, "root key re-sealed to this TPM (PCRs %v)\n", pcrs)
	if len(info.Planned) > 0 {
		fmt.Fprintf(stdout, "it also opens with the planned values %s; make the change, then start accessd: the first start on the new values re-seals to them alone\n",
			seal.FormatPCRValues(info.Planned))
	}
}

// parsePCRs reads --pcrs; the range is checked with the rest of the config.
func parsePCRs(s string) ([]int, error) {
	if s == "none" {
		return []int{}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--pcrs: %q is not a PCR index", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseBuildTime is when the binary was built: -X main.buildTime, else the
// commit time the Go toolchain stamps (vcs.time), else zero (the clock
// check then says it could not run).
func parseBuildTime() time.Time {
	s := buildTime
	if s == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, kv := range bi.Settings {
				if kv.Key == "vcs.time" {
					s = kv.Value
				}
			}
		}
	}
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

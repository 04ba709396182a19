// Command accessd is the access manager daemon: init, serve, check,
// recover, reseal, version. It parses flags and wires; the behaviour lives
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
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/accessd/accessd/daemon"
)

// Set by the build (-ldflags "-X main.version=… -X main.buildTime=…").
var (
	version   = "dev"
	buildTime = "" // RFC 3339
)

// Exit codes that mean something to scripts and systemd.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitLockdown = 3  // host checks refused the start / `check` found failures
	exitNotInit  = 4  // no store: run `accessd init` or restore one
	exitConfig   = 78 // EX_CONFIG
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: accessd COMMAND [FLAGS]

commands:
  init     create the data dir, seal a new root key, print the recovery key and admin password once
  serve    check the host, unseal, open the store and serve both planes
  check    run the host lockdown checks and print every finding
  recover  re-seal the root key to this TPM using the recovery key
  reseal   re-seal the root key to this TPM with a new PCR selection
  version  print the version

Run 'accessd COMMAND -h' for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Everything accessd creates (store files, sealed key, dev TLS key) is
	// for its own user only, whatever umask it was started with.
	syscall.Umask(0o077)
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "init":
		err = cmdInit(rest, stdout, stderr, log)
	case "serve":
		err = cmdServe(rest, stdout, stderr, log)
	case "check":
		err = cmdCheck(rest, stdout, stderr, log)
	case "recover":
		err = cmdRecover(rest, stdout, stderr, log)
	case "reseal":
		err = cmdReseal(rest, stdout, stderr, log)
	case "version":
		fmt.Fprintf(stdout, "accessd %s\n", version)
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "accessd: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
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

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func cmdInit(args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	var c common
	fs := newFlags("init", stderr)
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if c.dev {
		log.Warn("--dev: the root key is sealed to an in-process TPM simulator whose seed sits in the data dir; not for production", "event", "dev.mode")
	}
	return daemon.Init(cfg, daemon.InitOptions{Dev: c.dev, Out: stdout, Log: log})
}

func cmdServe(args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	var c common
	fs := newFlags("serve", stderr)
	c.register(fs)
	fs.StringVar(&c.listen, "listen", "", "TLS `address` of the data plane (overrides listen.tls)")
	if err := parse(fs, args); err != nil {
		return err
	}
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

func cmdCheck(args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	var c common
	var asJSON bool
	fs := newFlags("check", stderr)
	c.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print the findings as one JSON document")
	if err := parse(fs, args); err != nil {
		return err
	}
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

func cmdRecover(args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	var c common
	var keyFile string
	fs := newFlags("recover", stderr)
	c.register(fs)
	fs.StringVar(&keyFile, "recovery-key-file", "", "`file` holding the recovery key printed by init (- for stdin)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if keyFile == "" {
		return usageError{errors.New("--recovery-key-file is required")}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	var text []byte
	if keyFile == "-" {
		text, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		text, err = os.ReadFile(keyFile)
	}
	if err != nil {
		return fmt.Errorf("read recovery key: %w", err)
	}
	defer clear(text)
	if err := daemon.Recover(cfg, c.dev, text, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "root key re-sealed to this TPM (PCRs %v); start accessd again\n", cfg.Seal.PCRs)
	return nil
}

func cmdReseal(args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	var c common
	var pcrs string
	fs := newFlags("reseal", stderr)
	c.register(fs)
	fs.StringVar(&pcrs, "pcrs", "", "comma-separated PCR `list` to bind to, e.g. 7 or 0,7; \"none\" for no PCRs (default: seal.pcrs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if pcrs != "" {
		if cfg.Seal.PCRs, err = parsePCRs(pcrs); err != nil {
			return usageError{err}
		}
		if err := cfg.Override("", ""); err != nil { // range, order, duplicates
			return err
		}
	}
	if err := daemon.Reseal(cfg, c.dev, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "root key re-sealed to this TPM (PCRs %v)\n", cfg.Seal.PCRs)
	return nil
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

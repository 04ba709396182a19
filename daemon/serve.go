package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/net/netutil"

	"github.com/accessd/accessd/daemon/lockdown"
	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

// Options are what the accessd command hands the daemon besides the config.
type Options struct {
	// Dev is --dev: simulator TPM, self-signed TLS, lockdown as warnings,
	// first run initialises the data dir.
	Dev bool
	// Out receives one-time secrets printed on a --dev first run (the
	// recovery key, the admin's password); never the log.
	Out io.Writer
	// Log is the structured log (JSON on stderr under systemd).
	Log *slog.Logger
	// Version and BuildTime describe the binary.
	Version   string
	BuildTime time.Time
	// DrainTimeout bounds how long in-flight requests may finish on stop;
	// zero means 10 s.
	DrainTimeout time.Duration
}

// ServiceUser is the account the packaged unit runs accessd as.
const ServiceUser = "accessd"

// ErrNotInitialised is returned by Serve when the data dir has no store:
// init has not run, or the store was lost and must be restored.
var ErrNotInitialised = errors.New("daemon: data dir not initialised")

// ErrLockdown is returned when the host checks refused the start.
var ErrLockdown = errors.New("daemon: host lockdown checks failed; fix the findings above or run `accessd check` (set [lockdown] mode = \"warn\" only to override knowingly)")

// CheckHost applies the process hardening and runs every lockdown check for
// cfg. It opens nothing secret.
func CheckHost(cfg Config, dev bool, buildTime time.Time, log *slog.Logger) *lockdown.Report {
	harden(log)
	// Root running `accessd check` for an installed service means the
	// service user's view: the data dir must belong to accessd, not root.
	svcUser := ""
	if os.Geteuid() == 0 && !dev {
		if _, err := user.Lookup(ServiceUser); err == nil {
			svcUser = ServiceUser
		}
	}
	rep := lockdown.Run(lockdown.Config{
		ServiceUser: svcUser,
		DataDir:     cfg.DataDir,
		ConfigFile:  cfg.File(),
		TLSKey:      cfg.TLS.Key,
		TLSCert:     cfg.TLS.Cert,
		TLSClientCA: cfg.TLS.ClientCA,
		AdminSocket: cfg.Listen.AdminSocket,
		SealDevice:  cfg.Seal.Device,
		Dev:         dev,
		WarnOnly:    cfg.Lockdown.Mode == "warn",
		BuildTime:   buildTime,
	})
	return rep
}

// harden turns off core dumps and locks memory before any key is in it.
// A failure is logged, not fatal: the core-dumps and memory-lock findings
// give the verdict.
func harden(log *slog.Logger) {
	if err := lockdown.Harden(); err != nil {
		log.Warn("process hardening incomplete", "event", "lockdown.harden", "err", err)
	}
}

// Serve runs the daemon until ctx ends or SIGTERM/SIGINT arrives, in the
// order of the package comment.
func Serve(ctx context.Context, cfg Config, opt Options) error {
	log := opt.Log
	n := notifier{log: log}
	started := time.Now()
	// Signals first: a stop or a reload during start-up must not kill the
	// process with Go's default action.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// 1. The host, before anything is unsealed.
	n.status("checking host")
	if opt.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("daemon: create dev data dir: %w", err)
		}
		if err := ensureDevCert(cfg.TLS.Cert, cfg.TLS.Key, started); err != nil {
			return fmt.Errorf("daemon: dev TLS certificate: %w", err)
		}
	}
	rep := CheckHost(cfg, opt.Dev, opt.BuildTime, log)
	logFindings(log, rep)
	if rep.Failed() {
		return ErrLockdown
	}

	// 2. First --dev run: initialise.
	if opt.Dev {
		if done, err := Initialised(cfg.DataDir); err != nil {
			return err
		} else if !done {
			n.status("initialising dev data dir")
			if err := Init(cfg, InitOptions{Dev: true, Out: opt.Out, Log: log}); err != nil && !errors.Is(err, ErrInitialised) {
				return err
			}
		}
	}
	// Only init creates a store: a missing one is lost data, not a fresh start.
	if _, err := os.Stat(dbPath(cfg.DataDir)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: no store at %s: run `accessd init` for a new install, or restore the data dir from backup", ErrNotInitialised, dbPath(cfg.DataDir))
		}
		return fmt.Errorf("daemon: store: %w", err)
	}

	// 3. Unseal, open the store, zero the root key.
	n.status("unsealing root key")
	sealer, err := openSealer(cfg, opt.Dev)
	if err != nil {
		return err
	}
	root, sealed, err := seal.ReadSealedFile(sealedPath(cfg.DataDir), sealer)
	sealKind := sealer.Kind()
	sealer.Close()
	if err != nil {
		return fmt.Errorf("daemon: unseal %s: %w", sealedPath(cfg.DataDir), err)
	}
	// Report what the key is bound to, which may differ from the config
	// until `accessd reseal` runs.
	boundPCRs := make([]int, 0, len(sealed.PCRs))
	for _, p := range sealed.PCRs {
		boundPCRs = append(boundPCRs, p.Index)
	}
	if !slices.Equal(boundPCRs, cfg.Seal.PCRs) {
		log.Warn("root key is bound to other PCRs than seal.pcrs says; run `accessd reseal` to apply the config",
			"event", "seal.pcr_drift", "bound", boundPCRs, "configured", cfg.Seal.PCRs)
	}
	n.status("opening store")
	st, err := store.Open(dbPath(cfg.DataDir), root.Bytes(), store.Options{Logger: log})
	root.Destroy()
	if err != nil {
		return fmt.Errorf("daemon: open store: %w", err)
	}
	storeOpen := true
	var idp *identityPlane
	defer func() { // error paths before the orderly stop below
		if storeOpen {
			idp.close()
			st.Close()
		}
	}()
	n.status("loading identities")
	if idp, err = openIdentity(st, cfg, log); err != nil {
		return err
	}

	// 4. Listeners: socket activation first.
	n.status("binding listeners")
	m := newMetrics(st.Size)
	lis, err := bindListeners(cfg, log, m)
	if err != nil {
		return err
	}
	certs, err := newCertReloader(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		lis.close()
		return err
	}
	tlsCfg, err := serverTLS(certs, cfg.TLS)
	if err != nil {
		lis.close()
		return err
	}

	status := func() api.Status {
		lsm, vlog := st.Size()
		s := rep.Summary()
		out := api.Status{
			Version:   opt.Version,
			StartedAt: started.UTC(),
			Uptime:    time.Since(started).Round(time.Second).String(),
			Dev:       opt.Dev,
			Seal:      api.SealStatus{Kind: string(sealKind), PCRs: boundPCRs},
			Store:     api.StoreStatus{Path: dbPath(cfg.DataDir), LSMBytes: lsm, VlogBytes: vlog},
			Listeners: lis.describe(),
			Lockdown: api.LockdownStatus{Mode: cfg.Lockdown.Mode, Passed: s.Pass + s.Info,
				Warnings: s.Warn, Failed: s.Fail},
		}
		if opt.Dev {
			out.Lockdown.Mode = "warn (--dev)"
		}
		for _, f := range rep.Findings {
			if f.Status == lockdown.StatusWarn || f.Status == lockdown.StatusFail {
				out.Lockdown.Findings = append(out.Lockdown.Findings, api.LockdownFinding{
					Check: f.Check, Severity: string(f.Severity), Status: string(f.Status), Found: f.Found, Fix: f.Fix})
			}
		}
		return out
	}

	dataSrv := newHTTPServer(m.instrument("data", dataRoutes(idp, log)), log)
	dataSrv.TLSConfig = tlsCfg
	adminSrv := newHTTPServer(m.instrument("admin", adminRoutes(status, m, idp, log)), log)
	adminSrv.ConnContext = connContext

	errc := make(chan error, 2)
	go func() { errc <- dataSrv.Serve(tls.NewListener(netutil.LimitListener(lis.data, maxDataConns), tlsCfg)) }()
	go func() { errc <- adminSrv.Serve(lis.admin) }()

	// 5. Ready.
	n.send("READY=1\nSTATUS=serving on " + lis.data.Addr().String())
	log.Info("accessd ready", "event", "daemon.ready", "data", lis.data.Addr().String(),
		"admin", lis.admin.Addr().String(), "seal", string(sealKind), "dev", opt.Dev)
	wctx, wstop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { n.watchdog(wctx) })

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			if err := certs.reload(); err != nil {
				log.Error("TLS certificate reload failed; keeping the old one", "err", err)
			} else {
				log.Info("TLS certificate reloaded", "event", "tls.reload", "cert", cfg.TLS.Cert)
			}
		case err := <-errc:
			serveErr = fmt.Errorf("daemon: listener stopped: %w", err)
			break loop
		}
	}

	// 6. Stop: drain, close the store (which zeroes its keys).
	n.send("STOPPING=1\nSTATUS=draining")
	log.Info("accessd stopping", "event", "daemon.stopping")
	wstop()
	wg.Wait()
	drain(log, opt.DrainTimeout, dataSrv, adminSrv)
	storeOpen = false
	idp.close() // chains what is queued before the store closes
	if err := st.Close(); err != nil {
		log.Error("closing the store failed", "event", "store.close_error", "err", err)
		return errors.Join(serveErr, fmt.Errorf("daemon: close store: %w", err))
	}
	log.Info("accessd stopped", "event", "daemon.stopped")
	return serveErr
}

// drain stops the servers: no new connections, requests under way may
// finish within timeout (zero means 10 s), then whatever is left is cut.
func drain(log *slog.Logger, timeout time.Duration, servers ...*http.Server) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				log.Warn("drain did not finish in time; closing connections", "event", "daemon.drain_timeout", "err", err)
				srv.Close()
			}
		})
	}
	wg.Wait()
}

func logFindings(log *slog.Logger, rep *lockdown.Report) {
	for _, f := range rep.Findings {
		attrs := []any{"event", "lockdown.finding", "check", f.Check, "severity", string(f.Severity),
			"status", string(f.Status), "found", f.Found}
		switch f.Status {
		case lockdown.StatusFail:
			log.Error("lockdown check failed", append(attrs, "fix", f.Fix)...)
		case lockdown.StatusWarn:
			log.Warn("lockdown check warning", append(attrs, "fix", f.Fix)...)
		default:
			log.Info("lockdown check", attrs...)
		}
	}
}

// listeners are the two planes' sockets, bound or handed over by systemd.
type listeners struct {
	data, admin                   net.Listener
	dataActivated, adminActivated bool
}

func (l *listeners) close() {
	if l.data != nil {
		l.data.Close()
	}
	if l.admin != nil {
		l.admin.Close()
	}
}

func (l *listeners) describe() []api.Listener {
	return []api.Listener{
		{Plane: "data", Address: l.data.Addr().String(), Activated: l.dataActivated},
		{Plane: "admin", Address: l.admin.Addr().String(), Activated: l.adminActivated},
	}
}

// bindListeners takes the sockets systemd passed (fd names "tls" and
// "admin") and binds the others itself. The admin listener is always
// wrapped in the peer-credential check.
func bindListeners(cfg Config, log *slog.Logger, m *metrics) (*listeners, error) {
	named, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("daemon: socket activation: %w", err)
	}
	l := &listeners{}
	if ls := named["tls"]; len(ls) > 0 && ls[0] != nil {
		l.data, l.dataActivated = ls[0], true
	}
	var admin net.Listener
	if ls := named["admin"]; len(ls) > 0 && ls[0] != nil {
		admin, l.adminActivated = ls[0], true
	}
	if l.data == nil {
		if l.data, err = net.Listen("tcp", cfg.Listen.TLS); err != nil {
			return nil, fmt.Errorf("daemon: listen on %s: %w (change listen.tls or --listen)", cfg.Listen.TLS, err)
		}
	}
	if admin == nil {
		if admin, err = listenAdmin(cfg.Listen.AdminSocket, cfg.Listen.AdminGroup, log); err != nil {
			l.data.Close()
			return nil, err
		}
	}
	l.admin = &peerListener{Listener: admin, allow: newPeerPolicy(cfg.Listen.AdminGroup).allows, log: log, onRefuse: m.refused.Inc}
	return l, nil
}

// Paths inside the data dir.
func sealDir(data string) string    { return filepath.Join(data, "seal") }
func sealedPath(data string) string { return filepath.Join(data, "seal", "root.sealed") }
func recoveryPath(data string) string {
	return filepath.Join(data, "seal", "root.recovery")
}
func dbPath(data string) string { return filepath.Join(data, "db") }

// openSealer opens the TPM the config names. The simulator is refused
// outside --dev, even where it is compiled in.
func openSealer(cfg Config, dev bool) (*seal.TPM, error) {
	if cfg.Seal.Device == "simulator" && !dev {
		return nil, errors.New("daemon: seal.device = \"simulator\" is for --dev only; use /dev/tpmrm0 or swtpm (tcp://127.0.0.1:PORT)")
	}
	s, err := seal.Open(seal.Config{
		Device:            cfg.Seal.Device,
		SimulatorSeedFile: filepath.Join(sealDir(cfg.DataDir), "simulator.seed"),
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: open TPM %s: %w", cfg.Seal.Device, err)
	}
	return s, nil
}

package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/accessd/accessd/daemon/ceremony"
	"github.com/accessd/accessd/daemon/internal/backupfile"
	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/daemon/internal/lockdown"
	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
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
// init has not run or did not finish, a restore did not finish, or the
// store was lost and must be restored. accessd exits 4.
var ErrNotInitialised = datadir.ErrNotInitialised

// ErrLockdown is returned when the host checks refused the start.
var ErrLockdown = errors.New("daemon: host lockdown checks failed; fix the findings above or run `accessd check` (set [lockdown] mode = \"warn\" only to override knowingly)")

// CheckHost applies the process hardening and runs every lockdown check for
// cfg. It opens nothing secret.
func CheckHost(cfg Config, dev bool, buildTime time.Time, log *slog.Logger) *lockdown.Report {
	datadir.Harden(log)
	// Root running `accessd check` for an installed service means the
	// service user's view: the data dir must belong to accessd, not root.
	// Without the user (root on a host the package has not set up), the
	// checks judge the packaged layout: a finding says how to make the
	// user, and fixes name it rather than root.
	svcUser, packaged := "", ""
	if os.Geteuid() == 0 && !dev {
		if _, err := user.Lookup(ServiceUser); err == nil {
			svcUser = ServiceUser
		} else {
			packaged = ServiceUser
		}
	}
	rep := lockdown.Run(lockdown.Config{
		ServiceUser:  svcUser,
		PackagedUser: packaged,
		DataDir:      cfg.DataDir,
		ConfigFile:   cfg.File(),
		TLSKey:       cfg.TLS.Key,
		TLSCert:      cfg.TLS.Cert,
		TLSClientCA:  cfg.TLS.ClientCA,
		AdminSocket:  cfg.Listen.AdminSocket,
		SealDevice:   cfg.Seal.Device,
		Dev:          dev,
		WarnOnly:     cfg.Lockdown.Mode == "warn",
		BuildTime:    buildTime,
	})
	return rep
}

// Serve runs the daemon until ctx ends or SIGTERM/SIGINT arrives, in the
// order of the package comment, one named phase after another.
func Serve(ctx context.Context, cfg Config, opt Options) error {
	s := &server{cfg: cfg, opt: opt, log: opt.Log, n: notifier{log: opt.Log}, started: time.Now()}
	// Signals first: a stop or a reload during start-up must not kill the
	// process with Go's default action.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dir, err := s.checkHostAndLock()
	if err != nil {
		return err
	}
	ready := false
	defer func() {
		if !ready && s.opt.Dev {
			dir.Undo() // a failed first --dev run leaves nothing behind
			return
		}
		dir.Release()
	}()
	if err := s.firstDevRun(dir); err != nil {
		return err
	}
	if err := s.checkDisk(); err != nil {
		return err
	}
	st, err := s.unsealAndOpenStore()
	if err != nil {
		return err
	}
	if err := s.checkRollback(st); err != nil {
		st.Close()
		return err
	}
	s.n.status("loading identities")
	idp, err := openIdentity(st, s.auditQ, s.cfg, s.log)
	if err != nil {
		st.Close()
		return err
	}
	s.releaseStorePages()
	running, err := s.listen(st, idp)
	if err != nil {
		idp.close()
		st.Close()
		return err
	}
	ready = true
	return s.run(ctx, hup, running)
}

// server is one run of Serve: the inputs and what the phases found.
type server struct {
	cfg     Config
	opt     Options
	log     *slog.Logger
	n       notifier
	started time.Time

	rep       *lockdown.Report // the host checks
	sealKind  seal.Kind
	boundPCRs []int      // what root.sealed is bound to
	disk      *diskGuard // [store] min_free: refuses writes, stops below the floor
	// auditQ is the audit writer's scheduling state, given to the store
	// (Options.Audit) and to the writer (openIdentity).
	auditQ *audit.Queue
}

// checkHostAndLock is phase 1: the host checks, then the data-dir lock,
// before any TPM is touched, so a second serve on the same data dir is
// refused with accessd's own message. Under --dev it makes the data dir
// and the self-signed certificate first, recording them for undo.
func (s *server) checkHostAndLock() (*datadir.Dir, error) {
	s.n.status("checking host")
	if s.opt.Dev {
		if err := datadir.DevTPMAvailable(); err != nil { // before anything is created
			return nil, err
		}
		dir, err := datadir.Lock(s.cfg.DataDir, true)
		if err != nil {
			return nil, err
		}
		if err := ensureDevCertIn(dir, s.cfg.TLS.Cert, s.cfg.TLS.Key, s.started); err != nil {
			dir.Undo()
			return nil, fmt.Errorf("daemon: dev TLS certificate: %w", err)
		}
		s.rep = CheckHost(s.cfg, true, s.opt.BuildTime, s.log)
		logFindings(s.log, s.rep)
		if s.rep.Failed() { // dev findings are warnings; kept for safety
			dir.Undo()
			return nil, ErrLockdown
		}
		return dir, nil
	}
	s.rep = CheckHost(s.cfg, false, s.opt.BuildTime, s.log)
	logFindings(s.log, s.rep)
	if s.rep.Failed() {
		return nil, ErrLockdown
	}
	dir, err := datadir.Lock(s.cfg.DataDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no data dir at %s: run `accessd init` for a new install, or restore the data dir from backup", ErrNotInitialised, s.cfg.DataDir)
	}
	return dir, err
}

// firstDevRun is phase 2, --dev only: initialise a data dir that holds no
// store yet, under the lock already held.
func (s *server) firstDevRun(dir *datadir.Dir) error {
	if !s.opt.Dev {
		return nil
	}
	pending, err := datadir.InitPending(s.cfg.DataDir)
	if err != nil {
		return err
	}
	if done, err := datadir.Initialised(s.cfg.DataDir); err != nil || (done && !pending) {
		return err
	}
	s.n.status("initialising dev data dir")
	return ceremony.InitLocked(s.cfg.Ceremony(), ceremony.InitOptions{Dev: true, Out: s.opt.Out, Log: s.log}, dir)
}

// unsealAndOpenStore is phase 3: open the TPM, unseal the root key, open
// the store and zero the key. Only init creates a store: a missing one is
// lost data, not a fresh start.
func (s *server) unsealAndOpenStore() (*store.Store, error) {
	if pending, err := datadir.InitPending(s.cfg.DataDir); err != nil {
		return nil, err
	} else if pending {
		return nil, datadir.ErrInitPending(s.cfg.DataDir)
	}
	if _, err := os.Stat(datadir.DBPath(s.cfg.DataDir)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: no store at %s: run `accessd init` for a new install, or restore the data dir from backup", ErrNotInitialised, datadir.DBPath(s.cfg.DataDir))
		}
		return nil, fmt.Errorf("daemon: store: %w", err)
	}
	s.n.status("unsealing root key")
	sealer, err := datadir.OpenSealer(s.cfg.DataDir, s.cfg.Seal.Device, s.opt.Dev)
	if err != nil {
		return nil, err
	}
	datadir.LogFlushed(s.log, sealer)
	root, sealed, err := seal.ReadSealedFile(datadir.SealedPath(s.cfg.DataDir), sealer)
	s.sealKind = sealer.Kind()
	if err == nil {
		sealed = ceremony.FinishPlannedChange(s.cfg.DataDir, sealer, root, sealed, s.log)
	}
	sealer.Close()
	if err != nil {
		return nil, fmt.Errorf("daemon: unseal %s: %w", datadir.SealedPath(s.cfg.DataDir), err)
	}
	// Report what the key is bound to, which may differ from the config
	// until `accessd reseal --pcrs` runs.
	s.boundPCRs = ceremony.PCRIndices(sealed.PCRs)
	ceremony.WarnPCRDrift(s.log, s.boundPCRs, s.cfg.Seal.PCRs)
	s.n.status("opening store")
	s.auditQ = audit.NewQueue()
	st, err := store.Open(datadir.DBPath(s.cfg.DataDir), root.Bytes(), store.Options{Logger: s.log, Audit: s.auditQ,
		AllowWrite:     s.disk.allowWrite,
		AllowBulkWrite: s.disk.allowBulkWrite,
		BeforeMigrate: func(from, to int, backup func(io.Writer, []byte) error) error {
			return s.preMigrationBackup(from, to, root.Bytes(), backup)
		}})
	root.Destroy()
	if err != nil {
		return nil, fmt.Errorf("daemon: open store: %w", err)
	}
	return st, nil
}

// running is what phase 4 started and phase 5 stops.
type running struct {
	st                *store.Store
	idp               *identityPlane
	lis               *listeners
	certs             *certReloader
	dataSrv, adminSrv *http.Server
	errc              chan error
}

// listen is phase 4: take or bind the listeners (socket activation
// first), build both planes' routes, start serving and tell systemd.
func (s *server) listen(st *store.Store, idp *identityPlane) (*running, error) {
	s.n.status("binding listeners")
	m := newMetrics(st.Size)
	if err := idp.registerMetrics(m.reg); err != nil {
		return nil, fmt.Errorf("daemon: metrics: %w", err)
	}
	if err := idp.svc.Providers().Metrics().Register(m.reg); err != nil {
		return nil, fmt.Errorf("daemon: metrics: %w", err)
	}
	lis, err := bindListeners(s.cfg, s.log, m)
	if err != nil {
		return nil, err
	}
	certs, err := newCertReloader(s.cfg.TLS.Cert, s.cfg.TLS.Key)
	if err != nil {
		lis.close()
		return nil, err
	}
	tlsCfg, err := serverTLS(certs, s.cfg.TLS)
	if err != nil {
		lis.close()
		return nil, err
	}
	data, admin := routes(planeDeps{store: st, identity: idp, log: s.log, metrics: m, status: func() api.Status { return s.status(st, lis) }, dataDir: s.cfg.DataDir})
	r := &running{st: st, idp: idp, lis: lis, certs: certs, errc: make(chan error, 2)}
	proxies, _ := edge.ParseProxies(s.cfg.Listen.TrustedProxies) // validated with the config
	if len(proxies) > 0 {
		s.log.Info("the data plane takes the client address from X-Forwarded-For of trusted proxies", "event", "config.trusted_proxies", "proxies", s.cfg.Listen.TrustedProxies)
	}
	r.dataSrv = newHTTPServer(m.instrument("data", proxies.Wrap(data)), s.log)
	r.dataSrv.TLSConfig = tlsCfg
	r.adminSrv = newHTTPServer(m.instrument("admin", admin), s.log)
	r.adminSrv.ConnContext = connContext // hands handlers the peer credentials
	dataLis := guardData(r.dataSrv, lis.data, tlsCfg, dataLimits(s.cfg.Listen), m, s.log)
	go func() { r.errc <- r.dataSrv.Serve(dataLis) }()
	go func() { r.errc <- r.adminSrv.Serve(lis.admin) }()

	s.n.send("READY=1\nSTATUS=serving on " + lis.data.Addr().String())
	s.log.Info("accessd ready", "event", "daemon.ready", "data", lis.data.Addr().String(),
		"admin", lis.admin.Addr().String(), "seal", string(s.sealKind), "dev", s.opt.Dev)
	return r, nil
}

// planeDeps is what the route packages of both planes are handed.
type planeDeps struct {
	store    barrierStore
	identity *identityPlane
	log      *slog.Logger
	metrics  *metrics
	status   func() api.Status
	dataDir  string
}

// barrierStore is the store's barrier the admin plane backs up and re-seals by; *store.Store provides it.
type barrierStore interface {
	Barrier() store.Barrier
}

// status is what `accessctl status` shows.
func (s *server) status(st *store.Store, lis *listeners) api.Status {
	lsm, vlog := st.Size()
	sum := s.rep.Summary()
	out := api.Status{
		Version:   s.opt.Version,
		StartedAt: s.started.UTC(),
		Uptime:    time.Since(s.started).Round(time.Second).String(),
		Dev:       s.opt.Dev,
		Seal:      api.SealStatus{Kind: string(s.sealKind), PCRs: s.boundPCRs, RollbackDetection: rollbackStatus(s.opt.Dev)},
		Store:     api.StoreStatus{Path: datadir.DBPath(s.cfg.DataDir), LSMBytes: lsm, VlogBytes: vlog},
		Listeners: lis.describe(),
		Lockdown: api.LockdownStatus{Mode: s.cfg.Lockdown.Mode, Passed: sum.Pass + sum.Info,
			Warnings: sum.Warn, Failed: sum.Fail},
	}
	if s.opt.Dev {
		out.Lockdown.Mode = "warn (--dev)"
	}
	for _, f := range s.rep.Findings {
		if f.Status == lockdown.StatusWarn || f.Status == lockdown.StatusFail {
			out.Lockdown.Findings = append(out.Lockdown.Findings, api.LockdownFinding{
				Check: f.Check, Severity: string(f.Severity), Status: string(f.Status), Found: f.Found, Fix: f.Fix})
		}
	}
	return out
}

// run is phase 5: serve until told to stop, reloading the certificate on
// SIGHUP, then stop: STOPPING=1, drain, close the store (which zeroes its
// keys).
func (s *server) run(ctx context.Context, hup <-chan os.Signal, r *running) error {
	wctx, wstop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.n.watchdog(wctx) })
	wg.Go(func() { s.retainAudit(wctx, r.idp.audit) })
	wg.Go(func() { s.disk.watch(wctx) })
	if os.Getenv("GOGC") == "" { // an operator's GOGC is theirs
		svc := r.idp.svc
		wg.Go(func() {
			keepGCRoom(wctx, func() uint64 {
				if !svc.HashedWithin(gcRoomWhile) {
					return 0
				}
				return gcRoomHashes * svc.HashingMemory()
			})
		})
	}

	var serveErr error
	release := time.NewTicker(30 * time.Second)
	defer release.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-release.C:
			s.releaseStorePages()
		case <-hup:
			if err := r.certs.reload(); err != nil {
				s.log.Error("TLS certificate reload failed; keeping the old one", "err", err)
			} else {
				s.log.Info("TLS certificate reloaded", "event", "tls.reload", "cert", s.cfg.TLS.Cert)
			}
		case err := <-r.errc:
			serveErr = fmt.Errorf("daemon: listener stopped: %w", err)
			break loop
		case free := <-s.disk.floorHit:
			serveErr = s.disk.floorError(free)
			s.log.Error("disk below the hard free-space floor: stopping with the store closed cleanly", "event", "store.disk_floor", "err", serveErr)
			break loop
		}
	}

	s.n.send("STOPPING=1\nSTATUS=draining")
	s.log.Info("accessd stopping", "event", "daemon.stopping")
	wstop()
	wg.Wait()
	drain(s.log, s.opt.DrainTimeout, r.dataSrv, r.adminSrv)
	r.idp.close() // chains what is queued before the store closes
	s.advanceRollbackAtStop(r.st)
	if err := r.st.Close(); err != nil {
		s.log.Error("closing the store failed", "event", "store.close_error", "err", err)
		return errors.Join(serveErr, fmt.Errorf("daemon: close store: %w", err))
	}
	s.log.Info("accessd stopped", "event", "daemon.stopped")
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
		if err := checkActivatedAdmin(admin, cfg.Listen, log); err != nil {
			l.close()
			admin.Close()
			return nil, err
		}
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

// checkActivatedAdmin holds an admin socket systemd passed to the config:
// the path listen.admin_socket names, mode 0660, group listen.admin_group.
// A mismatch (an edited accessd.socket, or a config that names another
// path) would put the admin plane somewhere the operator does not expect,
// so it is refused rather than served.
func checkActivatedAdmin(l net.Listener, lc ListenConfig, log *slog.Logger) error {
	fix := "make SocketUser/SocketGroup/SocketMode and ListenStream= of accessd.socket match [listen] admin_socket and admin_group (SocketMode=0660), then systemctl daemon-reload and restart accessd.socket"
	ul, ok := l.(*net.UnixListener)
	if !ok {
		return fmt.Errorf("daemon: the socket systemd passed as \"admin\" is %s, not a Unix socket; %s", l.Addr().Network(), fix)
	}
	path := ul.Addr().String()
	if path != lc.AdminSocket {
		return fmt.Errorf("daemon: systemd passed the admin socket %s but listen.admin_socket is %s; %s", path, lc.AdminSocket, fix)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("daemon: the activated admin socket: %w; %s", err, fix)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		return fmt.Errorf("daemon: the activated admin socket %s is mode %04o, want 0660; %s", path, fi.Mode().Perm(), fix)
	}
	gid := lookupGroup(lc.AdminGroup)
	if gid < 0 {
		log.Warn("admin group does not exist; only root and the service user can use the admin socket",
			"event", "admin.no_group", "group", lc.AdminGroup, "fix", "groupadd --system "+lc.AdminGroup)
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Gid) != gid {
		return fmt.Errorf("daemon: the activated admin socket %s belongs to gid %d, not to listen.admin_group %s (gid %d); %s", path, st.Gid, lc.AdminGroup, gid, fix)
	}
	return nil
}

// releaseStorePages unlocks and drops the store's table mappings, which
// mlockall would otherwise keep resident (see
// lockdown.ReleaseStoreMappings): they hold ciphertext only.
func (s *server) releaseStorePages() {
	if _, err := lockdown.ReleaseStoreMappings(datadir.DBPath(s.cfg.DataDir)); err != nil {
		s.log.Warn("could not release the store's file mappings; memory use stays higher", "event", "lockdown.release_error", "err", err)
	}
}

// preMigrationBackup writes a backup of the store as it is, before a newer
// accessd migrates its layout, into the data dir (the only place the unit
// may write): a complete backup file that `accessd restore` takes with
// the recovery key, should the new version have to be rolled back.
func (s *server) preMigrationBackup(from, to int, root []byte, backup func(io.Writer, []byte) error) error {
	now := time.Now().UTC()
	path := filepath.Join(s.cfg.DataDir, fmt.Sprintf("pre-migration-layout%d-%s.accessd-backup", from, now.Format("20060102T150405Z")))
	rec, err := seal.ReadRecoveryData(datadir.RecoveryPath(s.cfg.DataDir))
	if err != nil {
		return fmt.Errorf("daemon: backup before migrating: %w", err)
	}
	hdr, tag, err := backupfile.New(now, rec, rand.Reader, func(h []byte) ([]byte, error) { return store.BackupTagFor(root, h) })
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("daemon: backup before migrating: %w (the store was not changed; free some space or fix the data dir's permissions)", err)
	}
	err = func() error {
		if _, err := f.Write(append(hdr, tag...)); err != nil {
			return err
		}
		if err := backup(f, tag); err != nil {
			return err
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("daemon: backup before migrating: %w (the store was not changed)", err)
	}
	s.log.Info("store layout will be migrated; a backup of the old layout was written first", "event", "store.pre_migration_backup",
		"from", from, "to", to, "backup", path)
	return nil
}

package daemon

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/accessd/accessd/oauth/login"
)

// maxDataConns bounds the data plane's open connections, so a flood of
// clients costs a bounded amount of memory (all of it locked) and file
// descriptors; beyond it new connections wait in the kernel's backlog.
const maxDataConns = 2048

// pressureIdle is how long a keep-alive connection may sit idle once the
// data plane holds more than three quarters of maxDataConns, instead of
// the server's IdleTimeout (120 s).
const pressureIdle = 5 * time.Second

// connLimits are the data plane's connection bounds. Tests shrink them.
type connLimits struct {
	// Total bounds the open connections (maxDataConns).
	Total int
	// PerAddress bounds the open connections of one source
	// (listen.max_conns_per_address).
	PerAddress int
	// PressureIdle is the idle time a keep-alive connection keeps above
	// three quarters of Total.
	PressureIdle time.Duration
}

// dataLimits are the production bounds for cfg.
func dataLimits(cfg ListenConfig) connLimits {
	return connLimits{Total: maxDataConns, PerAddress: cfg.MaxConnsPerAddress, PressureIdle: pressureIdle}
}

// guardData builds the data plane's listener chain on l and hooks srv's
// connection states, so that no single client can starve the others:
//
//   - per source address (IPv4 address, IPv6 /64) at most lim.PerAddress
//     connections; one more is reset as soon as it is accepted, before it
//     costs a TLS handshake, a goroutine or one of the lim.Total slots;
//   - at most lim.Total connections in all; the next wait in the kernel's
//     backlog;
//   - above three quarters of lim.Total, keep-alive connections idle for
//     lim.PressureIdle are closed, so slots held by idle clients come back
//     in seconds rather than after IdleTimeout. A client that wants its
//     connection must use it; one that lost it dials again.
//
// Connections still negotiating TLS or sending a request are bounded by
// the server's timeouts (newHTTPServer), not here.
func guardData(srv *http.Server, l net.Listener, tc *tls.Config, lim connLimits, m *metrics, log *slog.Logger) net.Listener {
	per := &addrLimitListener{Listener: l, max: lim.PerAddress, open: map[netip.Prefix]int{},
		log: log, logs: newLogLimiter(logBurst, logEvery)}
	reap := &idleReaper{high: lim.Total * 3 / 4, after: lim.PressureIdle, idle: map[net.Conn]*idleConn{}}
	if m != nil {
		per.onRefuse = m.dataRefused.Inc
		reap.onClose = m.idleClosed.Inc
	}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		reap.track(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	return tls.NewListener(netutil.LimitListener(per, lim.Total), tc)
}

// addrLimitListener bounds the open connections per source.
type addrLimitListener struct {
	net.Listener
	max      int
	onRefuse func() // may be nil
	log      *slog.Logger
	logs     *logLimiter

	mu   sync.Mutex
	open map[netip.Prefix]int
}

// sourceOf is the bucket a remote address counts against, the one the
// sign-in's throttle uses too (login.SourcePrefix): the address for IPv4,
// its /64 for IPv6 (one host usually holds a whole /64).
func sourceOf(a net.Addr) (netip.Prefix, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	p := login.SourcePrefix(ta.AddrPort().Addr())
	return p, p.IsValid()
}

// Accept returns the next connection whose source is under its bound,
// resetting the others.
func (l *addrLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src, ok := sourceOf(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		l.mu.Lock()
		n := l.open[src]
		if n < l.max {
			l.open[src] = n + 1
			l.mu.Unlock()
			return &addrConn{Conn: c, release: func() { l.release(src) }}, nil
		}
		l.mu.Unlock()
		l.refuse(c, src)
	}
}

func (l *addrLimitListener) release(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[src]--; l.open[src] <= 0 {
		delete(l.open, src)
	}
}

// refuse resets c (no FIN handshake, no TIME_WAIT kept for it), counts
// it, and logs it within the log bound.
func (l *addrLimitListener) refuse(c net.Conn, src netip.Prefix) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
	if l.onRefuse != nil {
		l.onRefuse()
	}
	if ok, dropped := l.logs.allow(); ok {
		l.log.Warn("data-plane connection refused: too many from one address", "event", "data.conn_refused",
			"source", src.String(), "limit", l.max, "dropped", dropped,
			"fix", "if this client is legitimate, raise listen.max_conns_per_address or make it reuse connections")
	}
}

// addrConn gives its slot back once, when closed.
type addrConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *addrConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// idleReaper follows the data plane's connections through http.Server's
// ConnState hook and, while more than high are open, closes those that
// stay idle longer than after.
type idleReaper struct {
	high    int
	after   time.Duration
	onClose func() // may be nil

	mu   sync.Mutex
	open int
	idle map[net.Conn]*idleConn
}

// idleConn is one idle spell of a connection; a new spell is a new value,
// so a timer of an old spell cannot close a connection that was used since.
type idleConn struct {
	since time.Time
	timer *time.Timer
}

func (r *idleReaper) track(c net.Conn, s http.ConnState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s {
	case http.StateNew:
		r.open++
		if r.open > r.high {
			for c, ic := range r.idle {
				r.arm(c, ic)
			}
		}
	case http.StateIdle:
		r.forget(c)
		ic := &idleConn{since: time.Now()}
		r.idle[c] = ic
		if r.open > r.high {
			r.arm(c, ic)
		}
	case http.StateActive:
		r.forget(c)
	case http.StateHijacked, http.StateClosed:
		r.open--
		r.forget(c)
	}
}

// arm starts the timer of an idle spell, once. r.mu is held.
func (r *idleReaper) arm(c net.Conn, ic *idleConn) {
	if ic.timer != nil {
		return
	}
	wait := max(r.after-time.Since(ic.since), 0)
	ic.timer = time.AfterFunc(wait, func() { r.reap(c, ic) })
}

// forget ends c's idle spell. r.mu is held.
func (r *idleReaper) forget(c net.Conn) {
	if ic, ok := r.idle[c]; ok {
		if ic.timer != nil {
			ic.timer.Stop()
		}
		delete(r.idle, c)
	}
}

// reap closes c if this idle spell is still going on and the pressure
// still holds; otherwise the spell may be armed again later.
func (r *idleReaper) reap(c net.Conn, ic *idleConn) {
	r.mu.Lock()
	expired := r.idle[c] == ic && r.open > r.high
	if expired {
		delete(r.idle, c)
	} else if r.idle[c] == ic {
		ic.timer = nil
	}
	r.mu.Unlock()
	if expired {
		c.Close()
		if r.onClose != nil {
			r.onClose()
		}
	}
}

package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// Tests of issue 9 §3 "Hostile input" at the network edge: clients that
// try to hold the data plane, slow clients, and bodies built to break the
// decoders. They run the real routes (routes(...)) behind the real
// listener chain (guardData) and TLS policy (serverTLS), on loopback.

// testPlanes builds both planes' muxes over a real store, as serve does.
func testPlanes(t *testing.T) (data, admin *http.ServeMux, m *metrics) {
	t.Helper()
	st, idp := testStoreIdentity(t)
	m = newMetrics(nil)
	data, admin = routes(planeDeps{store: st, identity: idp, log: quiet, metrics: m,
		status: func() api.Status { return api.Status{Version: "test"} }, dataDir: t.TempDir()})
	return data, admin, m
}

// counter reads a counter of m as the admin plane's /metrics serves it.
func counter(t *testing.T, m *metrics, name string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	require.Fail(t, fmt.Sprintf("no metric %s", name))
	return 0
}

// dataPlane is a running TLS data plane.
type dataPlane struct {
	addr string
	pool *x509.CertPool
	m    *metrics
}

// startDataPlane serves the real data-plane routes with the data plane's
// TLS policy through guardData with lim; tweak changes the server (its
// timeouts) before it starts.
func startDataPlane(t *testing.T, lim connLimits, tweak func(*http.Server)) *dataPlane {
	t.Helper()
	data, _, m := testPlanes(t)
	return startDataPlaneWith(t, data, m, lim, tweak)
}

// startDataPlaneWith is startDataPlane for a mux the test built.
func startDataPlaneWith(t *testing.T, data http.Handler, m *metrics, lim connLimits, tweak func(*http.Server)) *dataPlane {
	t.Helper()
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	require.NoError(t, ensureDevCert(crt, key, time.Now()))
	certs, err := newCertReloader(crt, key)
	require.NoError(t, err)
	tc, err := serverTLS(certs, TLSConfig{ClientAuth: "request"})
	require.NoError(t, err)
	pemBytes, err := os.ReadFile(crt)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemBytes))

	srv := newHTTPServer(m.instrument("data", data), quiet)
	srv.TLSConfig = tc
	if tweak != nil {
		tweak(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(guardData(srv, l, tc, lim, m, quiet))
	t.Cleanup(func() { srv.Close() })
	return &dataPlane{addr: l.Addr().String(), pool: pool, m: m}
}

// dialFrom dials the data plane from a loopback source address (Linux
// routes all of 127/8 to lo).
func (p *dataPlane) dialFrom(ctx context.Context, src string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	return d.DialContext(ctx, "tcp", p.addr)
}

// hold is what an abusive client does: a TLS connection, one keep-alive
// request, then the connection kept open and silent.
func (p *dataPlane) hold(src string, within time.Duration) (*tls.Conn, error) {
	raw, err := p.dialFrom(context.Background(), src)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(within))
	if err := p.roundTrip(c); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// roundTrip sends GET /health on c and reads the answer, leaving c open.
func (p *dataPlane) roundTrip(c net.Conn) error {
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && string(b) != "healthy" {
		err = fmt.Errorf("answer %d %q", resp.StatusCode, b)
	}
	return err
}

// client is a well-behaved client from 127.0.0.1 that takes a new
// connection for every request.
func (p *dataPlane) client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: p.pool},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return p.dialFrom(ctx, "127.0.0.1")
		},
	}}
}

// servedPromptly makes n requests as the well-behaved client and fails
// the test if one is refused or takes longer than within.
func (p *dataPlane) servedPromptly(t *testing.T, n int, within time.Duration) {
	t.Helper()
	c := p.client(within)
	for i := range n {
		start := time.Now()
		resp, err := c.Get("https://" + p.addr + "/health")
		require.NoError(t, err, "well-behaved client, request %d", i)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "healthy", string(b))
		require.Less(t, time.Since(start), within, "request %d", i)
	}
}

func closeAll(conns []*tls.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// TestOneAddressCannotStarveOthers: a client at 127.0.0.2 opens as many
// keep-alive connections as it can and holds them; it gets its
// per-address share and no more, and 127.0.0.1 is still served promptly.
func TestOneAddressCannotStarveOthers(t *testing.T) {
	lim := connLimits{Total: 32, PerAddress: 6, PressureIdle: time.Minute}
	p := startDataPlane(t, lim, nil)

	var held []*tls.Conn
	defer func() { closeAll(held) }()
	for range lim.Total + 8 { // more than the whole data plane holds
		c, err := p.hold("127.0.0.2", time.Second)
		if err == nil {
			held = append(held, c)
		}
	}
	p.servedPromptly(t, 5, 2*time.Second)
	require.Equal(t, lim.PerAddress, len(held), "the attacker gets its per-address share, no more")
	require.GreaterOrEqual(t, counter(t, p.m, "accessd_data_connections_refused_total"), float64(lim.Total+8-lim.PerAddress), "every refusal is counted")

	// The held connections still work: the limit resets only new ones.
	for _, c := range held {
		require.NoError(t, p.roundTrip(c))
	}
	// Slots come back when connections close.
	closeAll(held)
	held = nil
	require.Eventually(t, func() bool {
		c, err := p.hold("127.0.0.2", time.Second)
		if err != nil {
			return false
		}
		held = append(held, c)
		return true
	}, 2*time.Second, 20*time.Millisecond)
}

// TestIdleConnectionsReapedNearCap: many sources (each within its own
// share) fill the data plane with idle keep-alive connections; near the
// cap idle ones are closed after PressureIdle, not IdleTimeout, so a new
// client gets in. Below the mark idle connections are left alone.
func TestIdleConnectionsReapedNearCap(t *testing.T) {
	lim := connLimits{Total: 16, PerAddress: 16, PressureIdle: 200 * time.Millisecond}
	p := startDataPlane(t, lim, nil)

	// Below three quarters of the cap: nothing is reaped.
	var held []*tls.Conn
	defer func() { closeAll(held) }()
	for i := range 8 {
		c, err := p.hold(fmt.Sprintf("127.0.0.%d", 2+i%4), time.Second)
		require.NoError(t, err)
		held = append(held, c)
	}
	time.Sleep(3 * lim.PressureIdle)
	for _, c := range held {
		require.NoError(t, p.roundTrip(c), "idle connection below the mark must stay")
	}
	require.Zero(t, counter(t, p.m, "accessd_data_idle_connections_closed_total"))

	// Fill the data plane: every slot held by an idle client.
	for i := 8; i < lim.Total; i++ {
		c, err := p.hold(fmt.Sprintf("127.0.0.%d", 2+i%4), time.Second)
		require.NoError(t, err)
		held = append(held, c)
	}
	// The well-behaved client waits in the backlog until the reaper frees
	// a slot: a fraction of a second, not the 120 s IdleTimeout.
	p.servedPromptly(t, 3, 2*time.Second)
	require.Positive(t, counter(t, p.m, "accessd_data_idle_connections_closed_total"))
}

// TestSlowClientsCutOff: 1,000 connections that never send a byte, and
// slowloris clients trickling headers or a body, do not stop service to
// others, and the timeouts cut every one of them off. The timeouts are
// the production ones scaled down (5 s header, 15 s read) so the test is
// quick; the mechanism is the same.
func TestSlowClientsCutOff(t *testing.T) {
	const header, read = time.Second, 2 * time.Second
	p := startDataPlane(t, connLimits{Total: maxDataConns, PerAddress: 256, PressureIdle: pressureIdle}, func(s *http.Server) {
		s.ReadHeaderTimeout, s.ReadTimeout = header, read
	})
	ctx := context.Background()
	start := time.Now()

	// 1,000 idle connections from four addresses (250 each: under the
	// per-address bound, so the timeouts are what is tested here).
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := range 1000 {
		c, err := p.dialFrom(ctx, fmt.Sprintf("127.0.0.%d", 2+i%4))
		require.NoError(t, err)
		idle = append(idle, c)
	}

	// Slowloris: a TLS connection that sends its headers a byte at a time,
	// and one that sends a whole head and then its body a byte at a time.
	trickle := func(src, head string, body bool) <-chan time.Duration {
		done := make(chan time.Duration, 1)
		go func() {
			// The handshake itself is quick; on a loaded machine the
			// server's handshake timeout may still cut one, so try again:
			// the slow part is what comes after.
			var c *tls.Conn
			for try := 0; c == nil; try++ {
				raw, err := p.dialFrom(ctx, src)
				if err != nil || try == 5 {
					done <- -1
					return
				}
				c = tls.Client(raw, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.Handshake(); err != nil {
					c.Close()
					c = nil
				}
			}
			defer c.Close()
			began := time.Now()
			if body {
				if _, err := io.WriteString(c, head); err != nil {
					done <- -1
					return
				}
				head = `{"username":"` + string(make([]byte, 900)) + `"}`
			}
			// Write until the server hangs up (a write fails or the
			// server answers and closes).
			go func() { io.Copy(io.Discard, c); c.Close() }()
			for i := 0; ; i++ {
				if _, err := c.Write([]byte{head[i%len(head)]}); err != nil {
					done <- time.Since(began)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		return done
	}
	var slow []<-chan time.Duration
	for range 10 {
		slow = append(slow, trickle("127.0.0.6", "POST /v1/login/oauth/access_token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", false))
		slow = append(slow, trickle("127.0.0.7", "POST /v1/login/oauth/access_token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", true))
	}

	// Meanwhile everyone else is served promptly.
	p.servedPromptly(t, 10, 3*time.Second)

	// The slow clients are cut off by the server's timeouts.
	for i, ch := range slow {
		select {
		case d := <-ch:
			require.Positive(t, d, "slow client %d could not even start", i)
			require.Less(t, d, read+time.Second, "slow client %d", i)
		case <-time.After(5 * time.Second):
			require.Fail(t, fmt.Sprintf("slow client %d still connected after 5 s", i))
		}
	}
	// And so are the idle ones: the server closes them (TLS handshake
	// timeout), the test's own read deadline never fires.
	deadline := start.Add(header + 3*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, len(idle))
	for _, c := range idle {
		wg.Go(func() {
			c.SetReadDeadline(deadline)
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				errs <- fmt.Errorf("idle connection %s still open after %s", c.LocalAddr(), time.Since(start))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.Fail(t, fmt.Sprint(err))
	}
	p.servedPromptly(t, 3, 2*time.Second)
}

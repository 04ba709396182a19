package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/edge"
)

func TestServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.Default())
	require.Positive(t, srv.ReadHeaderTimeout)
	require.Positive(t, srv.ReadTimeout)
	require.Positive(t, srv.WriteTimeout)
	require.Positive(t, srv.IdleTimeout)
	require.Equal(t, 16<<10, srv.MaxHeaderBytes)
}

// serve runs h behind the real limits on a loopback listener.
func serve(t *testing.T, h http.Handler, tweak func(*http.Server)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newHTTPServer(newMetrics(nil).instrument("data", h), slog.Default())
	if tweak != nil {
		tweak(srv)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestBodyLimit(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			api.WriteError(w, api.ErrTooLarge)
			return
		}
		w.Write([]byte(strings.Repeat("x", int(n%10))))
	}), nil)
	for _, tt := range []struct {
		size int
		code int
	}{{1 << 10, 200}, {maxBody, 200}, {maxBody + 1, 413}, {8 << 20, 413}} {
		resp, err := http.Post("http://"+addr+"/", "application/json", bytes.NewReader(make([]byte, tt.size)))
		if err != nil { // the server may close early on a huge body; that is a refusal too
			require.Greater(t, tt.size, maxBody)
			continue
		}
		resp.Body.Close()
		require.Equal(t, tt.code, resp.StatusCode, "body of %d bytes", tt.size)
	}
}

func TestHugeHeaderRefused(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), nil)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

func TestSlowHeaderClosed(t *testing.T) {
	// The production timeout is 5 s; a shorter one keeps the test quick
	// while exercising the same mechanism on a real socket.
	addr := serve(t, http.NotFoundHandler(), func(s *http.Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // never finishes the headers
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(c)
	require.NoError(t, err, "the server must close the connection, not the client's deadline")
}

func TestHealthAndNotFound(t *testing.T) {
	addr := serve(t, edge.Data(dataPlanes(testIdentity(t), slog.Default())), nil)
	resp, err := http.Get("http://" + addr + "/health")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "healthy", string(b))

	resp, err = http.Get("http://" + addr + "/nope")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
	var e map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "AUT-0404", e["code"])
	require.NotEmpty(t, e["message"])
}

func TestDrainLetsRequestsFinishWithinBound(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	started := make(chan struct{}, 2)
	slow := func(d time.Duration) *http.Server {
		return newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			time.Sleep(d)
			io.WriteString(w, "done")
		}), quiet)
	}
	run := func(srv *http.Server) (string, chan error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		go srv.Serve(l)
		res := make(chan error, 1)
		go func() {
			resp, err := http.Get("http://" + l.Addr().String() + "/")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "done" {
					err = errors.New("incomplete answer: " + string(b))
				}
			}
			res <- err
		}()
		<-started
		return l.Addr().String(), res
	}

	// A request under way when the stop begins is answered.
	quick := slow(300 * time.Millisecond)
	_, res := run(quick)
	begin := time.Now()
	drain(quiet, 5*time.Second, quick)
	require.NoError(t, <-res)
	require.Less(t, time.Since(begin), 5*time.Second)

	// One slower than the bound is cut off when the bound runs out.
	stuck := slow(time.Minute)
	_, res = run(stuck)
	begin = time.Now()
	drain(quiet, 300*time.Millisecond, stuck)
	require.Less(t, time.Since(begin), 5*time.Second, "drain is bounded")
	require.Error(t, <-res)
}

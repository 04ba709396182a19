package daemon

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
	"github.com/accessd/accessd/oauth/token"
)

// maxBody bounds every request body on both planes.
const maxBody = 1 << 20

// newHTTPServer gives h the limits every listener of accessd has, so a slow
// or huge client costs a bounded amount of time and memory.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(serverLog{logger}, "", 0),
	}
}

// serverLog routes net/http's own error lines to slog. Failed TLS
// handshakes are an unauthenticated peer's doing and would let anyone
// flood the journal, so they go at debug level; the rest at warning.
type serverLog struct{ log *slog.Logger }

func (s serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, msg, "event", "http.server_error")
	return len(p), nil
}

// maxDataConns bounds the data plane's open connections, so a flood of
// clients costs a bounded amount of memory (all of it locked) and file
// descriptors; beyond it new connections wait in the kernel's backlog.
const maxDataConns = 2048

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// instrument limits the body and counts and times each request of a plane.
func (m *metrics) instrument(plane string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(plane, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(plane).Observe(time.Since(start).Seconds())
	})
}

// dataRoutes is the data plane. The OAuth and Identity routes join it as
// they are built.
func dataRoutes(idp *identityPlane, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	identity.Routes(mux, idp.svc, identity.Plane{Authenticate: idp.tokens.Authenticate, Log: log,
		Allowed: func(id, resource, action string) bool { return idp.index.Allowed(id, "", resource, action) }})
	token.Routes(mux, idp.tokens)
	token.DecisionRoutes(mux, idp.tokens, idp.index)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("healthy"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, fmt.Errorf("%w: no such route: %s %s", api.ErrNotFound, r.Method, r.URL.Path))
	})
	return mux
}

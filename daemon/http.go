package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/accessd/accessd/daemon/internal/backupfile"
	"github.com/accessd/accessd/oauth/edge"
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

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// instrument limits the body (size, and UTF-8: see utf8Body) and counts and times each request of a plane.
func (m *metrics) instrument(plane string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = &utf8Body{ReadCloser: http.MaxBytesReader(w, r.Body, maxBody)}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(plane, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(plane).Observe(time.Since(start).Seconds())
	})
}

// routes builds the data and the admin plane's muxes: every route of
// both is registered by the HTTP edge (oauth/edge); daemon wires, it
// does not implement.
func routes(d planeDeps) (data, admin *http.ServeMux) {
	p := dataPlanes(d.identity, d.log)
	data = edge.Data(p)
	p.AdminActor = adminActor
	p.Status = d.status
	p.Metrics = d.metrics.handler()
	p.Backup = func(w io.Writer, now time.Time) error { return backupfile.Write(w, d.store, d.dataDir, now) }
	p.Fields = d.store.Barrier()
	p.Review = d.identity.review
	p.Apply = d.identity.apply
	admin = edge.Admin(p)
	return data, admin
}

// dataPlanes is what the data plane's routes ask.
func dataPlanes(idp *identityPlane, log *slog.Logger) edge.Planes {
	return edge.Planes{Identity: idp.svc, MFA: idp.mfa, Tokens: idp.tokens, Index: idp.index, Audit: idp.audit,
		Refusals: idp.refusals, Log: log}
}

// errNotUTF8 ends the read of a body that is not UTF-8 text.
var errNotUTF8 = errors.New("the body is not UTF-8 text; send UTF-8 (JSON, RFC 8259, and forms must be)")

// utf8Body fails a request body's read as soon as it stops being UTF-8.
// Every body of both planes is JSON, a form or a TOML policy, all of them
// UTF-8 by definition, but encoding/json would silently turn invalid bytes
// into U+FFFD and a form parser passes them on: here the client learns
// that its bytes are wrong (the handlers answer a read error with 400,
// quoting it) instead of a confusing verdict on mangled data. It checks
// the bytes as they stream, carrying an incomplete sequence across reads,
// so it costs no buffering.
type utf8Body struct {
	io.ReadCloser
	tail [utf8.UTFMax]byte // start of a sequence the last read cut off
	n    int               // bytes in tail
	off  int64             // bytes checked so far
	err  error
}

func (b *utf8Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p)
	if !b.check(p[:n], err == io.EOF) {
		b.err = fmt.Errorf("%w (near byte %d)", errNotUTF8, b.off)
		return 0, b.err
	}
	return n, err
}

// check reports whether data, following what was checked before, can
// still be UTF-8; at eof nothing may be left incomplete.
func (b *utf8Body) check(data []byte, eof bool) bool {
	if b.n > 0 { // finish the cut-off sequence first
		var buf [2 * utf8.UTFMax]byte
		k := copy(buf[:], b.tail[:b.n])
		k += copy(buf[k:], data[:min(len(data), utf8.UTFMax)])
		if !utf8.FullRune(buf[:k]) {
			if eof || k >= utf8.UTFMax {
				return false
			}
			b.n = copy(b.tail[:], buf[:k])
			return true
		}
		r, size := utf8.DecodeRune(buf[:k])
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		data = data[size-b.n:]
		b.off += int64(size)
		b.n = 0
	}
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i > len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(data[:cut]) {
		return false
	}
	b.off += int64(cut)
	b.n = copy(b.tail[:], data[cut:])
	return !eof || b.n == 0
}

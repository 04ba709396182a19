package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/accessd/accessd/oauth/api"
)

// maxAnswer bounds what accessctl reads from the daemon.
const maxAnswer = 16 << 20

// client talks HTTP to the admin socket. Every failure it returns is a
// *cliError with the exit status the failure means.
type client struct {
	socket string
	http   *http.Client
}

func newClient(socket string) *client {
	return &client{
		socket: socket,
		http: &http.Client{
			Timeout: 60 * time.Second,
			Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			}},
		},
	}
}

// call is one admin request.
type call struct {
	method string
	path   string     // escaped, from route()
	query  url.Values // nil for none
	body   any        // sent as JSON when not nil
	raw    []byte     // sent as is with rawType when not nil
	rawTyp string
	// notFound says where to look when the daemon answers 404.
	notFound string
	// next, when set, receives the target of the answer's
	// `Link: <…>; rel="next"` header ("" on a list's last page).
	next *string
}

// route joins a path prefix and path-escaped segments, so an id or a
// member name cannot reach another route.
func route(prefix string, segs ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// do sends c and decodes a 2xx answer into out (unless out is nil or the
// answer is 204). It returns the HTTP status of a successful answer.
func (cl *client) do(ctx context.Context, c call, out any) (int, error) {
	var body io.Reader
	var ctype string
	switch {
	case c.raw != nil:
		body, ctype = bytes.NewReader(c.raw), c.rawTyp
	case c.body != nil:
		b, err := json.Marshal(c.body)
		if err != nil {
			return 0, &cliError{code: exitError, msg: fmt.Sprintf("encode request: %v", err)}
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	u := "http://accessd" + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("build request: %v", err)}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cl.http.Do(req)
	if err != nil {
		return 0, cl.dialError(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("read answer from accessd: %v", err), hint: "retry; if it persists, see journalctl -u accessd"}
	}
	if len(answer) > maxAnswer {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("answer from accessd is over %d bytes", maxAnswer), hint: "narrow the request (--limit, --since, --page)"}
	}
	if resp.StatusCode/100 != 2 {
		return 0, httpError(resp, answer, c.notFound)
	}
	if c.next != nil {
		*c.next = nextLink(resp.Header.Values("Link"))
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := decodeAnswer(answer, out); err != nil {
		return 0, &cliError{code: exitError,
			msg:  fmt.Sprintf("cannot read the answer of accessd to %s %s (HTTP %d): %v", c.method, c.path, resp.StatusCode, err),
			hint: "accessd and accessctl may be of different versions; compare 'accessctl status' with the installed package"}
	}
	return resp.StatusCode, nil
}

// decodeAnswer decodes one JSON value into out. Unknown fields are
// allowed (a newer daemon may add some); a bare null is not an answer.
func decodeAnswer(b []byte, out any) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return errors.New("empty answer")
	}
	if bytes.Equal(t, []byte("null")) {
		return errors.New("null answer")
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// dialError classifies a failure to talk to the socket at all.
func (cl *client) dialError(err error) *cliError {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return &cliError{code: exitUnavailable,
			msg:  fmt.Sprintf("cannot reach accessd at %s: is the daemon running?", cl.socket),
			hint: "systemctl status accessd; or point --socket / ACCESSD_SOCKET at the admin socket"}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return &cliError{code: exitNoPerm,
			msg:  fmt.Sprintf("permission denied on %s", cl.socket),
			hint: "run as root or join the accessd-admin group (usermod -aG accessd-admin $USER, then log in again)"}
	case errors.Is(err, context.DeadlineExceeded):
		return &cliError{code: exitError,
			msg:  fmt.Sprintf("accessd at %s did not answer in time", cl.socket),
			hint: "a change may or may not have been made: check with the get or list command; see journalctl -u accessd"}
	}
	return &cliError{code: exitError, msg: fmt.Sprintf("admin socket %s: %v", cl.socket, err), hint: "systemctl status accessd"}
}

// httpError turns a non-2xx answer into "code: message" and a hint.
func httpError(resp *http.Response, body []byte, notFound string) *cliError {
	var e api.Error
	msg := ""
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		msg = e.Code + ": " + strings.TrimSpace(e.Message)
	} else {
		text := strings.TrimSpace(string(body))
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		msg = "HTTP " + resp.Status
		if text != "" {
			msg += ": " + text
		}
	}
	ce := &cliError{code: exitError, msg: msg}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		ce.code = exitNoPerm
		ce.hint = "accessd refused this on the admin socket; run as root or as a member of the accessd-admin group"
	case resp.StatusCode == http.StatusNotFound && e.Code == "":
		ce.hint = "this accessd does not know the route; it may be older than accessctl (compare 'accessctl status')"
	case resp.StatusCode == http.StatusNotFound:
		ce.hint = notFound
	case resp.StatusCode == http.StatusConflict:
		ce.hint = "it exists already or changed meanwhile; look at it with the get or list command and retry"
	case resp.StatusCode == http.StatusBadRequest, resp.StatusCode == http.StatusRequestEntityTooLarge:
		ce.hint = "fix the value the message names and retry"
	case resp.StatusCode == http.StatusServiceUnavailable:
		ce.hint = "accessd cannot take writes now (low disk space?); see journalctl -u accessd"
	case resp.StatusCode >= 500:
		ce.hint = "see the daemon's log: journalctl -u accessd"
	}
	return ce
}

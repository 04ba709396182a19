package identity_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/oauth/identity"
	"github.com/accessd/accessd/oauth/token"
)

// Issue 9 §2: the wall clock jumps forward and back (a bad NTP source, a
// VM restored from a snapshot). Both the lockout and the token checks read
// the injected clock, so these tests move it; a static binary ignores
// libfaketime, so this is the only way to test it.

// clockTokens is a token server over e's store and identity service,
// reading e's clock, serving the token endpoint over real TLS.
func clockTokens(t *testing.T, e *env) (*token.Server, *httptest.Server) {
	t.Helper()
	cfg := token.DefaultConfig()
	cfg.AccessTTL.Duration = time.Hour
	tok, err := token.New(e.st, cfg, token.Options{Issuer: "https://accessd.test", Owner: "lerian", Sessions: e.svc,
		Clients: e.svc, ClientAuth: e.svc, SignIn: e.svc, SecondFactor: e.svc, Audit: e.log, Subjects: e.idx, Now: e.clock.Now})
	require.NoError(t, err)
	srv := httptest.NewTLSServer(edge.Data(edge.Planes{Identity: e.svc, Tokens: tok, Index: e.idx, Audit: e.log, Now: e.clock.Now}))
	t.Cleanup(func() { srv.Close(); tok.Close() })
	return tok, srv
}

func issue(t *testing.T, srv *httptest.Server, app api.CreatedApplication) string {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(app.ClientSecret))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.AccessToken
}

// TestClockJumpTokens: a token stops being accepted when the clock passes
// its expiry, and is not accepted either when the clock jumps back to
// before it was issued (nbf is then in the future); a token revoked
// before the jump stays revoked after the clock comes back.
func TestClockJumpTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, identity.Config{})
	ctx := context.Background()
	app, err := e.svc.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "clock-app"})
	require.NoError(t, err)
	tok, srv := clockTokens(t, e)
	at := issue(t, srv, app)
	_, err = tok.Verify(at)
	require.NoError(t, err)

	steps := []struct {
		name  string
		by    time.Duration
		valid bool
	}{
		{"forward within its life", 30 * time.Minute, true},
		{"forward past expiry", 31 * time.Minute, false},
		{"a year forward", 365 * 24 * time.Hour, false},
		{"back to before issuance", -(365*24*time.Hour + 61*time.Minute + 2*time.Second), false},
		{"back to issuance", 2 * time.Second, true},
	}
	for _, s := range steps {
		e.clock.Add(s.by)
		_, err := tok.Verify(at)
		if s.valid {
			require.NoError(t, err, s.name)
		} else {
			require.ErrorIs(t, err, api.ErrUnauthorized, s.name)
		}
	}

	// Revoked, then the clock runs past the token's expiry and the
	// daemon restarts (its sweep forgets expired revocations), then the
	// clock is put back: the revoked token must not come back to life.
	revoked := issue(t, srv, app)
	require.NoError(t, tok.Revoker().Revoke(ctx, app.ClientID, revoked, "test"))
	_, err = tok.Verify(revoked)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	e.clock.Add(2 * time.Hour)
	restarted, _ := clockTokens(t, e)
	restarted.Start() // sweeps at once
	restarted.Close()
	e.clock.Add(-2 * time.Hour)
	again, _ := clockTokens(t, e)
	_, err = again.Verify(revoked)
	require.ErrorIs(t, err, api.ErrUnauthorized, "a revoked token resurrected by a clock jump")
}

// TestClockJumpLockout: a lock ends after lockout_duration when the clock
// runs forward (even by a year), and does not become eternal when the
// clock jumps back after the lock was set, nor when it jumps back while
// failures are being counted.
func TestClockJumpLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, identity.Config{})
	ctx := context.Background()
	u := e.user(t, "clocky")
	lock := func() {
		t.Helper()
		for range 5 {
			_, _ = e.svc.Login(ctx, admin, "clocky", []byte("wrong-password-guess"))
		}
		_, err := e.svc.Login(ctx, admin, "clocky", []byte(u.Password))
		require.ErrorIs(t, err, identity.ErrAccountLocked)
	}
	login := func(what string) {
		t.Helper()
		_, err := e.svc.Login(ctx, admin, "clocky", []byte(u.Password))
		require.NoError(t, err, what)
	}

	lock()
	e.clock.Add(365 * 24 * time.Hour)
	login("a year forward ends the lock")

	lock()
	e.clock.Add(-365 * 24 * time.Hour)
	login("a year back does not make the lock last a year")

	lock()
	e.clock.Add(-20 * time.Minute) // the lock now ends 35 min ahead: more than one lockout period
	login("a lock ending further ahead than lockout_duration is a clock jump")

	// Failures counted, then the clock jumps back: the count still
	// locks at the limit, and that lock ends on time.
	for range 3 {
		_, _ = e.svc.Login(ctx, admin, "clocky", []byte("wrong-password-guess"))
	}
	e.clock.Add(-48 * time.Hour)
	for range 2 {
		_, _ = e.svc.Login(ctx, admin, "clocky", []byte("wrong-password-guess"))
	}
	_, err := e.svc.Login(ctx, admin, "clocky", []byte(u.Password))
	require.ErrorIs(t, err, identity.ErrAccountLocked, "failures before a backward jump still count")
	e.clock.Add(16 * time.Minute)
	login("and that lock ends after lockout_duration")
}

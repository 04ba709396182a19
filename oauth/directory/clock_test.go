package directory_test

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
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/edge"
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
	tok, err := token.New(e.Store, cfg, token.Options{Issuer: "https://accessd.test", Owner: "lerian", Sessions: e.Service,
		Clients: e.Clients, ClientAuth: e.Clients, SignIn: e.SignIn, SecondFactor: e.SignIn, Audit: e.Audit, Subjects: e.Index, Now: e.Clock.Now})
	require.NoError(t, err)
	srv := httptest.NewTLSServer(edge.Data(edge.Planes{Identity: e.Service, MFA: e.Enrolment, Tokens: tok, Index: e.Index, Audit: e.Audit, Now: e.Clock.Now}))
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
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "clock-app"})
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
		e.Clock.Add(s.by)
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
	e.Clock.Add(2 * time.Hour)
	restarted, _ := clockTokens(t, e)
	restarted.Start() // sweeps at once
	restarted.Close()
	e.Clock.Add(-2 * time.Hour)
	again, _ := clockTokens(t, e)
	_, err = again.Verify(revoked)
	require.ErrorIs(t, err, api.ErrUnauthorized, "a revoked token resurrected by a clock jump")
}

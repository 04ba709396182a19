package token_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// bearerJSON sends a JSON request with a bearer token and returns the
// status.
func (e *env) bearerJSON(t *testing.T, method, path, bearer string, in, out any) int {
	t.Helper()
	b, err := json.Marshal(in)
	require.NoError(t, err)
	return e.do(t, method, path, map[string]string{"Authorization": "Bearer " + bearer, "Content-Type": "application/json"}, bytes.NewReader(b), out)
}

// sessionLive reports whether a session's access token still decides
// and its refresh token still refreshes (the new pair replaces tok).
func (e *env) sessionLive(t *testing.T, userID string, tok *api.TokenResponse) (access, refresh bool) {
	t.Helper()
	code, _ := e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: "lerian/" + userID, Resource: "ledgers", Action: "get", Product: "midaz"})
	var next api.TokenResponse
	if e.postJSON(t, "/v1/login/oauth/refresh_token", nil, map[string]string{"refreshToken": tok.RefreshToken}, &next) == http.StatusOK {
		*tok = next
		refresh = true
	}
	return code == http.StatusOK, refresh
}

func (e *env) totp(t *testing.T, secret string) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "-N", e.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// TestEnablingMFAEndsOtherSessions: a user who turns a second factor on
// from one session ends every other (a thief's, signed in with the
// password alone): their access tokens and refresh families stop at
// once; the session that enabled it goes on.
func TestEnablingMFAEndsOtherSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	u := e.user(t, "sofia", "copper-Meadow-lantern-58")
	_, mine, _ := e.passwordLogin(t, "sofia", "copper-Meadow-lantern-58")
	_, thief, _ := e.passwordLogin(t, "sofia", "copper-Meadow-lantern-58")
	// A refresh family's creation is stamped by the store's own clock
	// (the real one): move the test clock well past it.
	e.clock.Add(time.Minute)

	var setup api.MFASetup
	require.Equal(t, http.StatusOK, e.bearerJSON(t, "POST", "/v1/users/"+u.ID+"/mfa/setup", mine.AccessToken, api.MFASetupRequest{MFAType: api.MFATypeApp}, &setup))
	var on api.MFAEnabled
	require.Equal(t, http.StatusOK, e.bearerJSON(t, "POST", "/v1/users/"+u.ID+"/mfa/enable", mine.AccessToken,
		api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: e.totp(t, setup.Secret)}, &on))
	require.True(t, on.Enabled)

	access, refresh := e.sessionLive(t, u.ID, &thief)
	require.False(t, access, "another session's access token stops when MFA is enabled")
	require.False(t, refresh, "and its refresh family")
	access, refresh = e.sessionLive(t, u.ID, &mine)
	require.True(t, access, "the session that enabled MFA goes on")
	require.True(t, refresh)
	access, _ = e.sessionLive(t, u.ID, &mine)
	require.True(t, access, "and so do the tokens its refresh gives")
}

// TestPasswordChangeEndsOtherSessions: changing one's own password ends
// the other sessions (access tokens and refresh families) and any open
// MFA challenge at once; the session that changed it goes on.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("oathtool")
	require.NoError(t, err, "oathtool is required")
	e := newEnv(t, token.DefaultConfig())
	u := e.user(t, "tomas", "granite-River-candle-31")
	setup, err := e.rooms.Enrolment.MFASetup(ctx(), admin, u.ID, api.MFATypeApp)
	require.NoError(t, err)
	_, err = e.rooms.Enrolment.MFAEnable(ctx(), admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: e.totp(t, setup.Secret)})
	require.NoError(t, err)
	signIn := func() api.TokenResponse {
		t.Helper()
		e.clock.Add(30 * time.Second) // a fresh TOTP step for each
		var ch api.MFAChallenge
		require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "password", Username: "tomas", Password: "granite-River-candle-31"}, &ch))
		var tok api.TokenResponse
		require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: ch.MFAToken, Passcode: e.totp(t, setup.Secret), MFAType: "app"}, &tok))
		return tok
	}
	mine, other := signIn(), signIn()
	var open api.MFAChallenge
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "password", Username: "tomas", Password: "granite-River-candle-31"}, &open))
	require.True(t, open.MFARequired)
	e.clock.Add(time.Minute) // past the real clock that stamps the families' creation

	require.Equal(t, http.StatusNoContent, e.bearerJSON(t, "PATCH", "/v1/users/"+u.ID+"/update-password", mine.AccessToken,
		api.UpdatePasswordRequest{OldPassword: "granite-River-candle-31", NewPassword: "saffron-Harbor-violin-74"}, nil))

	access, refresh := e.sessionLive(t, u.ID, &other)
	require.False(t, access, "another session's access token stops at a password change")
	require.False(t, refresh, "and its refresh family")
	var fail api.Error
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: open.MFAToken, Passcode: e.totp(t, setup.Secret), MFAType: "app"}, &fail),
		"a challenge opened with the old password cannot be completed")
	access, refresh = e.sessionLive(t, u.ID, &mine)
	require.True(t, access, "the session that changed the password goes on")
	require.True(t, refresh)
}

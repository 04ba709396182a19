package token_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// The fuzz targets drive the data plane's parsers of untrusted bytes
// through the real handlers over a real store: whatever arrives, the
// answer is a 2xx or 4xx (never a 5xx, never a panic), and no junk
// verifies as a token.

func fuzzEnv(f *testing.F) (*env, api.CreatedApplication, string) {
	e := newEnv(f, token.DefaultConfig())
	a := e.app(f, "fuzz")
	var tok api.OAuthTokenResponse
	require.Equal(f, http.StatusOK, e.postForm(f, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &tok))
	return e, a, tok.AccessToken
}

func serve(e *env, method, path, ctype, auth, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1<<20)
	w := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(w, r)
	return w
}

func FuzzVerifyToken(f *testing.F) {
	e, _, good := fuzzEnv(f)
	parts := strings.Split(good, ".")
	for _, s := range []string{good, parts[0] + "." + parts[1] + ".", parts[0] + ".." + parts[2], "a.b.c", "", "..",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".", good + "x", strings.Repeat("A", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := e.tok.Verify(tok)
		if err == nil && tok != good {
			// Only an exact copy of a token accessd issued can verify.
			require.Equal(t, good, tok, "a token other than the one issued verified: %+v", p.Claims)
		}
	})
}

func FuzzOAuthTokenForm(f *testing.F) {
	e, a, _ := fuzzEnv(f)
	basic := "Basic " + basicOf(a.ClientID, a.ClientSecret)
	f.Add("grant_type=client_credentials", basic)
	f.Add("grant_type=client_credentials&client_id="+a.ClientID+"&client_secret="+a.ClientSecret, "")
	f.Add("grant_type=password&username=admin&password=x", "")
	f.Add("grant_type=refresh_token&refresh_token=acr_xyz", "")
	f.Add("grant_type=client_credentials&grant_type=password", basic)
	f.Add("%zz", "Basic %%%")
	f.Add("", "Basic Og==")
	f.Fuzz(func(t *testing.T, body, auth string) {
		w := serve(e, "POST", "/oauth/token", "application/x-www-form-urlencoded", auth, body)
		require.Less(t, w.Code, 500, w.Body.String())
		for _, p := range []string{"/oauth/introspect", "/oauth/revoke"} {
			w := serve(e, "POST", p, "application/x-www-form-urlencoded", auth, body)
			require.Less(t, w.Code, 500, w.Body.String())
		}
	})
}

func FuzzLerianJSON(f *testing.F) {
	e, a, good := fuzzEnv(f)
	f.Add(`{"grantType":"client_credentials","clientId":"`+a.ClientID+`","clientSecret":"`+a.ClientSecret+`"}`, "")
	f.Add(`{"grantType":"password","username":"admin","password":"wrong-password-1"}`, "")
	f.Add(`{"grantType":"password","username":"admin@example.com","password":"wrong-password-1","nonce":"n-0S6_WzA2Mj"}`, "")
	f.Add(`{"grantType":"password","username":"a@b","password":"x","nonce":"\u0000\u00ff"}`, "")
	f.Add(`{"refreshToken":"acr_x"}`, "")
	f.Add(`{"mfaToken":"mfa_x","passcode":"123456","mfaType":"app"}`, "")
	f.Add(`{"action":"get","product":"midaz","resource":"accounts","sub":"lerian/`+a.ClientID+`"}`, good)
	f.Add(`{"action":1}`, good)
	f.Add(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`, good)
	f.Add("{\"sub\":\"\xff\"}", good)
	f.Fuzz(func(t *testing.T, body, auth string) {
		for _, p := range []string{"/v1/login/oauth/access_token", "/v1/login/oauth/refresh_token", "/v1/login/mfa/verify", "/v1/authorize"} {
			w := serve(e, "POST", p, "application/json", auth, body)
			require.Less(t, w.Code, 500, "%s: %s", p, w.Body.String())
		}
	})
}

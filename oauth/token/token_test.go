package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/store/audit"
)

// verifyAgainstJWKS checks tok's signature with the key set the server
// publishes, as any resource server would, and returns header and claims.
func (e *env) verifyAgainstJWKS(t *testing.T, tok string) (jose.Header, map[string]any) {
	t.Helper()
	var set jose.JSONWebKeySet
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/.well-known/jwks.json", nil, nil, &set))
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	require.NoError(t, err)
	h := obj.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	require.Len(t, keys, 1, "the token's kid is published")
	payload, err := obj.Verify(keys[0].Key)
	require.NoError(t, err, "the signature verifies against JWKS")
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	return h, claims
}

func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			cfg := token.DefaultConfig()
			cfg.SigningAlg = alg
			e := newEnv(t, cfg)
			a := e.app(t, "ledger")
			c := ctx()
			c = context.WithValue(c, oauth2.HTTPClient, e.hc)
			cc := clientcredentials.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret, TokenURL: e.srv.URL + "/oauth/token"}
			tok, err := cc.Token(c)
			require.NoError(t, err)
			require.Equal(t, "Bearer", tok.TokenType)
			require.Empty(t, tok.RefreshToken, "client_credentials gets no refresh token")
			h, claims := e.verifyAgainstJWKS(t, tok.AccessToken)
			require.Equal(t, alg, h.Algorithm)
			require.Equal(t, "at+jwt", h.ExtraHeaders[jose.HeaderType])
			require.Equal(t, a.ClientID, claims["client_id"])
			require.Equal(t, a.ClientID, claims["azp"])
			require.Equal(t, a.ClientID, claims["sub"])
			require.Equal(t, "application", claims["type"])
			require.Equal(t, "lerian", claims["owner"])
			require.Equal(t, issuer, claims["iss"])
			for _, k := range []string{"exp", "iat", "nbf", "jti", "aud", "name"} {
				require.Contains(t, claims, k)
			}

			// client_secret_post works too; a wrong secret gets no token.
			cc.AuthStyle = oauth2.AuthStyleInParams
			_, err = cc.Token(c)
			require.NoError(t, err)
			cc.ClientSecret = a.ClientSecret[:len(a.ClientSecret)-1] + "x"
			_, err = cc.Token(c)
			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re)
			require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
			require.Equal(t, "invalid_client", re.ErrorCode)
		})
	}
}

func TestLerianClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	a := e.app(t, "fees")
	var out api.TokenResponse
	code := e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "client_credentials", ClientID: a.ClientID, ClientSecret: a.ClientSecret}, &out)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Bearer", out.TokenType)
	require.EqualValues(t, 3600, out.ExpiresIn)
	require.NotEmpty(t, out.AccessToken)

	var fail api.Error
	code = e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "implicit"}, &fail)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "AUT-0013", fail.Code)
	code = e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "client_credentials"}, &fail)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "AUT-0014", fail.Code)
}

func TestPasswordGrantAndAuthorize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	u := e.user(t, "alice", "correct-Horse-battery-77")
	code, tok, _ := e.passwordLogin(t, "alice", "correct-Horse-battery-77")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Bearer", tok.TokenType)
	require.NotEmpty(t, tok.AccessToken)
	require.True(t, strings.HasPrefix(tok.RefreshToken, "acr_"))
	_, claims := e.verifyAgainstJWKS(t, tok.AccessToken)
	require.Equal(t, "normal-user", claims["type"])
	require.Equal(t, u.ID, claims["sub"])
	require.Equal(t, "lerian", claims["client_id"], "without clientId the token's client is tokens.default_client")
	require.Equal(t, "alice", claims["name"])

	// Wrong password and unknown user read the same; so do a source
	// throttled on an account and on an unknown name (a locked account
	// reading like a wrong password is oauth/login's
	// TestLockoutParallelGuesses and TestLockoutAccountBudget: locking
	// takes many sources).
	code, _, f1 := e.passwordLogin(t, "alice", "wrong-password-here-1")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, f2 := e.passwordLogin(t, "nobody", "wrong-password-here-1")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, f1, f2)
	e.user(t, "mallory", "sunset-Granite-oboe-19")
	for range 5 {
		e.passwordLogin(t, "mallory", "wrong-password-here-2")
		e.passwordLogin(t, "nobody-else", "wrong-password-here-2")
	}
	code, _, f3 := e.passwordLogin(t, "mallory", "sunset-Granite-oboe-19")
	require.Equal(t, http.StatusTooManyRequests, code, "throttled")
	code, _, f4 := e.passwordLogin(t, "nobody-else", "sunset-Granite-oboe-19")
	require.Equal(t, http.StatusTooManyRequests, code, "throttled")
	require.Equal(t, "AUT-0429", f3.Code)
	require.Equal(t, f3.Code, f4.Code, "a throttled account answers like a throttled unknown name")

	// lib-auth's golden body: <owner>/<sub> and product.
	ok := api.AuthorizeRequest{Sub: "lerian/" + u.ID, Resource: "ledgers", Action: "get", Product: "midaz"}
	code, d := e.authorize(t, tok.AccessToken, ok)
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Authorized)
	ts, err := time.Parse(time.RFC3339, d.Timestamp)
	require.NoError(t, err, "the timestamp is RFC 3339")
	require.WithinDuration(t, e.clock.Now(), ts, 2*time.Second)
	// The product-prefix rule.
	code, d = e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: u.ID, Resource: "ledgers", Action: "GET", Product: "midaz"})
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Authorized)
	// Another action is refused.
	code, d = e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: "lerian/" + u.ID, Resource: "ledgers", Action: "delete", Product: "midaz"})
	require.Equal(t, http.StatusOK, code)
	require.False(t, d.Authorized)
	// A sub naming someone else never widens (or even reaches) the decision.
	code, d = e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: "lerian/someone-else", Resource: "ledgers", Action: "get", Product: "midaz"})
	require.Equal(t, http.StatusOK, code)
	require.False(t, d.Authorized)
	// A user token may not use the application role subject.
	code, d = e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: "admin/midaz-editor-role", Resource: "ledgers", Action: "get", Product: "midaz"})
	require.Equal(t, http.StatusOK, code)
	require.False(t, d.Authorized)
	// A broken signature is refused with Lerian's error shape.
	parts := strings.Split(tok.AccessToken, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	var fail api.Error
	code = e.postJSON(t, "/v1/authorize", map[string]string{"Authorization": parts[0] + "." + parts[1] + "." + string(sig)}, ok, &fail)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "AUT-0401", fail.Code)
	// Bearer prefix works as well as lib-auth's bare token; none is 401.
	code, d = e.authorize(t, "Bearer "+tok.AccessToken, ok)
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Authorized)
	code = e.postJSON(t, "/v1/authorize", nil, ok, &fail)
	require.Equal(t, http.StatusUnauthorized, code)

	// Permissions and userinfo.
	var perms map[string][]string
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/permissions?product=midaz", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, nil, &perms))
	require.Equal(t, map[string][]string{"ledgers": {"get"}}, perms)
	var info api.UserInfo
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/userinfo", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, nil, &info))
	require.Equal(t, u.ID, info.Sub)
	require.Equal(t, "alice", info.PreferredUsername)
	require.Equal(t, "alice@example.test", info.Email)

	// The denied decisions are in the audit log, each its own entry.
	require.NoError(t, e.al.Sync())
	denied := 0
	require.NoError(t, audit.Scan(e.st, 1, func(en storeEntry) (bool, error) {
		if en.Type == "authz.deny" {
			denied++
		}
		return true, nil
	}))
	require.Equal(t, 3, denied)
}

func TestApplicationAuthorizeRoleSubject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	a := e.app(t, "crm")
	var out api.TokenResponse
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "client_credentials", ClientID: a.ClientID, ClientSecret: a.ClientSecret}, &out))
	for _, tc := range []struct {
		name string
		req  api.AuthorizeRequest
		want bool
	}{
		{"own subject, owner-qualified", api.AuthorizeRequest{Sub: "lerian/" + a.ClientID, Resource: "accounts", Action: "get", Product: "midaz"}, true},
		{"own bare subject", api.AuthorizeRequest{Sub: a.ClientID, Resource: "accounts", Action: "get", Product: "midaz"}, true},
		{"lib-auth v2.9's role subject asks about the app's own grants", api.AuthorizeRequest{Sub: "admin/midaz-editor-role", Resource: "accounts", Action: "get", Product: "midaz"}, true},
		{"the role subject never widens", api.AuthorizeRequest{Sub: "admin/midaz-editor-role", Resource: "accounts", Action: "post", Product: "midaz"}, false},
		{"another app's subject", api.AuthorizeRequest{Sub: "lerian/other", Resource: "accounts", Action: "get", Product: "midaz"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, d := e.authorize(t, out.AccessToken, tc.req)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, tc.want, d.Authorized)
		})
	}
	// Deleting the application ends its tokens at once.
	require.NoError(t, e.id.Applications().DeleteApplication(ctx(), admin, a.ClientID))
	code, _ := e.authorize(t, out.AccessToken, api.AuthorizeRequest{Sub: a.ClientID, Resource: "accounts", Action: "get", Product: "midaz"})
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestRefreshRotationAndReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	e.user(t, "bob", "river-Stone-pepper-58")
	_, first, _ := e.passwordLogin(t, "bob", "river-Stone-pepper-58")

	refresh := func(rt string) (int, api.TokenResponse, api.Error) {
		return e.lerianToken(t, "/v1/login/oauth/refresh_token", map[string]string{"refreshToken": rt})
	}
	code, second, _ := refresh(first.RefreshToken)
	require.Equal(t, http.StatusOK, code)
	require.NotEqual(t, first.RefreshToken, second.RefreshToken, "rotated on every use")
	require.NotEmpty(t, second.AccessToken)

	// The spent token again: refused, and the family dies with it.
	code, _, fail := refresh(first.RefreshToken)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "AUT-1005", fail.Code)
	code, _, fail = refresh(second.RefreshToken)
	require.Equal(t, http.StatusUnauthorized, code, "the replay revoked the whole family")
	require.Equal(t, "AUT-1005", fail.Code)

	// The form grant works the same (a fresh family).
	_, third, _ := e.passwordLogin(t, "bob", "river-Stone-pepper-58")
	var out api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third.RefreshToken}}, &out))
	require.NotEmpty(t, out.RefreshToken)
	var oe api.OAuthError
	require.Equal(t, http.StatusBadRequest, e.postForm(t, "/oauth/token", [2]string{}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third.RefreshToken}}, &oe))
	require.Equal(t, "invalid_grant", oe.Error)

	// Failed refreshes spend the address's failure budget: made-up
	// refresh tokens cannot flood the audit log.
	for i := 0; ; i++ {
		code, _, fail := refresh(fmt.Sprintf("acr_made-up-%d", i))
		if code == http.StatusTooManyRequests {
			require.Equal(t, "AUT-0429", fail.Code)
			require.LessOrEqual(t, i, 30, "within the default failed_auth_per_minute_per_address")
			break
		}
		require.Equal(t, http.StatusUnauthorized, code)
		require.Less(t, i, 31)
	}

	// Only hashes are stored: no refresh token is in the store's records.
	fams, err := e.st.RefreshFamilies().List("", 0)
	require.NoError(t, err)
	raw, err := json.Marshal(fams)
	require.NoError(t, err)
	for _, rt := range []string{first.RefreshToken, second.RefreshToken, third.RefreshToken, out.RefreshToken} {
		require.NotContains(t, string(raw), strings.TrimPrefix(rt, "acr_"))
	}
}

func TestIntrospectAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	a := e.app(t, "ledger")
	rs := e.app(t, "resource-server")
	_, err := e.id.Groups().Grant(ctx(), admin, "resource-server-group", introspectPerm)
	require.NoError(t, err)
	var tok api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &tok))

	var in token.Introspection
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/introspect", [2]string{rs.ClientID, rs.ClientSecret}, url.Values{"token": {tok.AccessToken}}, &in))
	require.True(t, in.Active)
	require.Equal(t, a.ClientID, in.ClientID)
	require.Equal(t, "application", in.Type)

	var oe api.OAuthError
	require.Equal(t, http.StatusUnauthorized, e.postForm(t, "/oauth/introspect", [2]string{}, url.Values{"token": {tok.AccessToken}}, &oe), "introspection needs client authentication")
	require.Equal(t, "invalid_client", oe.Error)
	require.Equal(t, http.StatusUnauthorized, e.postForm(t, "/oauth/introspect", [2]string{rs.ClientID, "acs_wrong"}, url.Values{"token": {tok.AccessToken}}, &oe))

	// Another client cannot revoke it (RFC 7009: 200, nothing happens).
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/revoke", [2]string{rs.ClientID, rs.ClientSecret}, url.Values{"token": {tok.AccessToken}}, nil))
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/introspect", [2]string{rs.ClientID, rs.ClientSecret}, url.Values{"token": {tok.AccessToken}}, &in))
	require.True(t, in.Active)
	// Its own client can.
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/revoke", [2]string{a.ClientID, a.ClientSecret}, url.Values{"token": {tok.AccessToken}}, nil))
	in = token.Introspection{}
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/introspect", [2]string{rs.ClientID, rs.ClientSecret}, url.Values{"token": {tok.AccessToken}}, &in))
	require.False(t, in.Active)
	code, _ := e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: a.ClientID, Resource: "accounts", Action: "get", Product: "midaz"})
	require.Equal(t, http.StatusUnauthorized, code, "a revoked token is refused by /v1/authorize")

	// The revocation survives a restart of the token server.
	t2, err := token.New(e.st, token.DefaultConfig(), tokenOptions(e.rooms, e.al, e.idx, e.clock, issuer, ""))
	require.NoError(t, err)
	defer t2.Close()
	_, err = t2.Verify(tok.AccessToken)
	require.Error(t, err)
}

func TestForcedLogoutEndsEarlierTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	u := e.user(t, "carol", "violet-Canyon-mirror-93")
	_, tok, _ := e.passwordLogin(t, "carol", "violet-Canyon-mirror-93")
	req := api.AuthorizeRequest{Sub: "lerian/" + u.ID, Resource: "ledgers", Action: "get", Product: "midaz"}
	code, d := e.authorize(t, tok.AccessToken, req)
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Authorized)

	e.clock.Add(time.Second)
	require.NoError(t, e.id.Users().Logout(ctx(), admin, u.ID))
	code, _ = e.authorize(t, tok.AccessToken, req)
	require.Equal(t, http.StatusUnauthorized, code, "a token from before `accessctl user logout` is no longer authorized")
	var fail api.Error
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/oauth/refresh_token", nil, map[string]string{"refreshToken": tok.RefreshToken}, &fail))

	e.clock.Add(time.Second)
	_, again, _ := e.passwordLogin(t, "carol", "violet-Canyon-mirror-93")
	code, d = e.authorize(t, again.AccessToken, req)
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Authorized, "a new sign-in works")

	// /v1/logout ends the presenter's own session.
	req2, err := http.NewRequest("POST", e.srv.URL+"/v1/logout", nil)
	require.NoError(t, err)
	req2.Header.Set("Authorization", "Bearer "+again.AccessToken)
	resp, err := e.hc.Do(req2)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	code, _ = e.authorize(t, again.AccessToken, req)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/oauth/refresh_token", nil, map[string]string{"refreshToken": again.RefreshToken}, &fail))
}

func TestMFAChallenge(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("oathtool")
	require.NoError(t, err, "oathtool is required (apt-get install oathtool; scripts/test installs it)")
	e := newEnv(t, token.DefaultConfig())
	u := e.user(t, "dana", "amber-Falcon-window-12")
	setup, err := e.rooms.Enrolment.MFASetup(ctx(), admin, u.ID, api.MFATypeApp)
	require.NoError(t, err)
	code := func() string {
		out, err := exec.Command("oathtool", "--totp", "-b", "-N", e.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"), setup.Secret).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	_, err = e.rooms.Enrolment.MFAVerify(ctx(), admin, u.ID, api.MFAVerifyRequest{Passcode: code(), MFAType: api.MFATypeApp})
	require.NoError(t, err)
	e.clock.Add(30 * time.Second)
	_, err = e.rooms.Enrolment.MFAEnable(ctx(), admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeApp, Passcode: code()})
	require.NoError(t, err)
	e.clock.Add(30 * time.Second)

	var ch api.MFAChallenge
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "password", Username: "dana", Password: "amber-Falcon-window-12", Nonce: "mfa-nonce-7"}, &ch))
	require.True(t, ch.MFARequired)
	require.True(t, strings.HasPrefix(ch.MFAToken, "mfa_"))

	var fail api.Error
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: ch.MFAToken, Passcode: "000000", MFAType: "app"}, &fail))
	require.Equal(t, "AUT-1009", fail.Code)
	var tok api.TokenResponse
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: ch.MFAToken, Passcode: code(), MFAType: "app"}, &tok))
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	_, idc := e.verifyAgainstJWKS(t, tok.IDToken)
	require.Equal(t, "mfa-nonce-7", idc["nonce"], "the password grant's nonce reaches the ID token through the challenge")
	e.clock.Add(30 * time.Second)
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: ch.MFAToken, Passcode: code(), MFAType: "app"}, &fail), "an mfaToken is single-use")

	// The form face says mfa_required with the token.
	var oe api.OAuthError
	require.Equal(t, http.StatusForbidden, e.postForm(t, "/oauth/token", [2]string{}, url.Values{"grant_type": {"password"}, "username": {"dana"}, "password": {"amber-Falcon-window-12"}}, &oe))
	require.Equal(t, "mfa_required", oe.Error)
	require.NotEmpty(t, oe.MFAToken)

	// A challenge opened before a forced logout cannot be completed after
	// it, and one whose factor was switched off meanwhile accepts nothing.
	e.clock.Add(30 * time.Second)
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "password", Username: "dana", Password: "amber-Falcon-window-12"}, &ch))
	e.clock.Add(time.Second)
	require.NoError(t, e.id.Users().Logout(ctx(), admin, u.ID))
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: ch.MFAToken, Passcode: code(), MFAType: "app"}, &fail), "a logout ends open challenges")
	e.clock.Add(30 * time.Second)
	require.Equal(t, http.StatusOK, e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "password", Username: "dana", Password: "amber-Falcon-window-12"}, &ch))
	_, err = e.rooms.Enrolment.MFADisable(ctx(), admin, u.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, e.postJSON(t, "/v1/login/mfa/verify", nil, api.MFALoginRequest{MFAToken: ch.MFAToken, Passcode: "123456", MFAType: "app"}, &fail), "a factor switched off meanwhile makes no code pass")

}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	t.Parallel()
	cfg := token.DefaultConfig()
	e := newEnv(t, cfg)
	a := e.app(t, "ledger")
	get := func() string {
		var out api.OAuthTokenResponse
		require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &out))
		return out.AccessToken
	}
	kidOf := func(tok string) string {
		h, _ := e.verifyAgainstJWKS(t, tok)
		return h.KeyID
	}
	old := get()
	oldKid := kidOf(old)
	keys, err := e.tok.Keys().List()
	require.NoError(t, err)
	require.Len(t, keys, 2, "the active key and the next one are published")
	var next string
	for _, k := range keys {
		if k.State == "next" {
			next = k.KID
		}
	}
	require.NoError(t, e.tok.Keys().Maintain(true))
	fresh := get()
	require.Equal(t, next, kidOf(fresh), "the published next key signs after a rotation")
	require.Equal(t, oldKid, kidOf(old), "the retired key stays in JWKS")
	_, err = e.tok.Verify(old)
	require.NoError(t, err, "tokens of the retired key stay valid until they expire")

	// Scheduled rotation after key_rotation, and the retired key leaves
	// JWKS once its last token expired.
	e.clock.Add(cfg.KeyRotation.Duration + time.Minute)
	require.NoError(t, e.tok.Keys().Maintain(false))
	var set jose.JSONWebKeySet
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/.well-known/jwks.json", nil, nil, &set))
	require.Empty(t, set.Key(oldKid), "a key whose tokens all expired leaves JWKS")
	require.NotEqual(t, next, kidOf(get()))
}

func TestExpiredApplicationTokensRefused(t *testing.T) {
	t.Parallel()
	cfg := token.DefaultConfig()
	cfg.AccessTTL.Duration = 3 * time.Hour
	e := newEnv(t, cfg)
	_, err := e.id.Groups().CreateGroup(ctx(), admin, api.CreateGroupRequest{Name: "g"})
	require.NoError(t, err)
	a, err := e.id.Applications().CreateApplication(ctx(), admin, api.CreateApplicationRequest{Name: "temp", ExpiresIn: "1h"})
	require.NoError(t, err)
	var out api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &out))
	_, err = e.tok.Verify(out.AccessToken)
	require.NoError(t, err)
	e.clock.Add(time.Hour + time.Minute)
	_, err = e.tok.Verify(out.AccessToken)
	require.Error(t, err, "an application past its expiry has no valid token, whatever the token's own exp")
}

func TestDiscoveryMatchesServedRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	var meta map[string]any
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/.well-known/oauth-authorization-server", nil, nil, &meta))
	require.Equal(t, issuer, meta["issuer"])
	for _, k := range []string{"token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint", "userinfo_endpoint"} {
		u, err := url.Parse(meta[k].(string))
		require.NoError(t, err)
		method := "POST"
		if k == "jwks_uri" || k == "userinfo_endpoint" {
			method = "GET"
		}
		code := e.do(t, method, u.Path, nil, nil, nil)
		require.NotEqual(t, http.StatusNotFound, code, "%s %s is served", method, u.Path)
		require.NotEqual(t, http.StatusMethodNotAllowed, code, "%s %s is served", method, u.Path)
	}
}

func TestRateLimitFailedClientAuth(t *testing.T) {
	t.Parallel()
	cfg := token.DefaultConfig()
	cfg.FailedAuthPerMinutePerClient = 3
	e := newEnv(t, cfg)
	a := e.app(t, "ledger")
	var oe api.OAuthError
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, e.postForm(t, "/oauth/token", [2]string{a.ClientID, "acs_wrong"}, url.Values{"grant_type": {"client_credentials"}}, &oe))
	}
	req, err := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.ClientID, a.ClientSecret)
	resp, err := e.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the right secret still passes: failing in a client's name cannot lock it out")
	req, err = http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.ClientID, "acs_wrong")
	resp, err = e.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a wrong secret over the client's failure budget")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	// Per address: once an address spent its failures, it waits, whatever
	// it presents.
	cfg.FailedAuthPerMinutePerClient = 100
	cfg.FailedAuthPerMinutePerAddress = 2
	e2 := newEnv(t, cfg)
	a2 := e2.app(t, "ledger")
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, e2.postForm(t, "/oauth/token", [2]string{a2.ClientID, "acs_wrong"}, url.Values{"grant_type": {"client_credentials"}}, &oe))
	}
	require.Equal(t, http.StatusTooManyRequests, e2.postForm(t, "/oauth/token", [2]string{a2.ClientID, a2.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &oe))
	e2.clock.Add(time.Minute)
	var out api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e2.postForm(t, "/oauth/token", [2]string{a2.ClientID, a2.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &out))
}

func TestRateLimitPasswordPerUser(t *testing.T) {
	t.Parallel()
	cfg := token.DefaultConfig()
	cfg.PasswordPerMinutePerUser = 2
	e := newEnv(t, cfg)
	e.user(t, "erin", "maple-Orbit-candle-35")
	for range 2 {
		code, _, _ := e.passwordLogin(t, "erin", "maple-Orbit-candle-35")
		require.Equal(t, http.StatusOK, code)
	}
	code, _, fail := e.passwordLogin(t, "ERIN", "maple-Orbit-candle-35")
	require.Equal(t, http.StatusTooManyRequests, code, "the limit is per canonical username")
	require.Equal(t, "AUT-0429", fail.Code)
}

// forged signs claims with a key accessd does not have, for the attack
// table.
func forged(t *testing.T, alg jose.SignatureAlgorithm, key any, hdr map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{ExtraHeaders: hdr}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	require.NoError(t, err)
	b, err := json.Marshal(claims)
	require.NoError(t, err)
	obj, err := sg.Sign(b)
	require.NoError(t, err)
	s, err := obj.CompactSerialize()
	require.NoError(t, err)
	return s
}

func TestJWTAttacksRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	a := e.app(t, "ledger")
	var good api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e.postForm(t, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &good))
	parts := strings.Split(good.AccessToken, ".")
	var claims map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, json.Unmarshal(b, &claims))
	h, _ := e.verifyAgainstJWKS(t, good.AccessToken)
	var set jose.JSONWebKeySet
	e.do(t, "GET", "/.well-known/jwks.json", nil, nil, &set)
	pubJSON, _ := set.Key(h.KeyID)[0].MarshalJSON()

	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for k2, v2 := range claims {
			c[k2] = v2
		}
		c[k] = v
		return c
	}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	other := token.DefaultConfig()
	e2 := newEnv(t, other)
	a2 := e2.app(t, "ledger")
	var foreign api.OAuthTokenResponse
	require.Equal(t, http.StatusOK, e2.postForm(t, "/oauth/token", [2]string{a2.ClientID, a2.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &foreign))

	// The same keys under another issuer name (a second server over this
	// store): a good signature, the wrong iss.
	t2, err := token.New(e.st, token.DefaultConfig(), tokenOptions(e.rooms, e.al, e.idx, e.clock, "https://elsewhere.test", ""))
	require.NoError(t, err)
	defer t2.Close()
	t2h := edge.Data(edge.Planes{Identity: e.id, MFA: e.rooms.Enrolment, Tokens: t2, Index: e.idx, Audit: e.al, Now: e.clock.Now})
	rr := httptest.NewRecorder()
	rq := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
	rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rq.SetBasicAuth(a.ClientID, a.ClientSecret)
	t2h.ServeHTTP(rr, rq)
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
	var wrongIss api.OAuthTokenResponse
	require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &wrongIss))

	for _, tc := range []struct{ name, tok string }{
		{"wrong issuer, good signature", wrongIss.AccessToken},
		{"alg none", enc(map[string]string{"alg": "none", "typ": "at+jwt", "kid": h.KeyID}) + "." + parts[1] + "."},
		{"HS256 keyed with the public key", forged(t, jose.HS256, pubJSON, map[jose.HeaderKey]any{"typ": "at+jwt", "kid": h.KeyID}, claims)},
		{"unknown kid", enc(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "nope"}) + "." + parts[1] + "." + parts[2]},
		{"claims swapped under a good signature", parts[0] + "." + enc(with("sub", "someone")) + "." + parts[2]},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:40]},
		{"another accessd's token", foreign.AccessToken},
		{"empty", ""},
		{"garbage", "a.b.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.tok.Verify(tc.tok)
			require.Error(t, err)
			var in token.Introspection
			e.postForm(t, "/oauth/introspect", [2]string{a.ClientID, a.ClientSecret}, url.Values{"token": {tc.tok}}, &in)
			require.False(t, in.Active)
		})
	}
	// Time: expired and not yet valid, through the injected clock.
	e.clock.Add(time.Hour)
	_, err = e.tok.Verify(good.AccessToken)
	require.Error(t, err, "expired")
	e.clock.Add(-2 * time.Hour)
	_, err = e.tok.Verify(good.AccessToken)
	require.Error(t, err, "not yet valid")
}

func TestUserWithoutGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	u, err := e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: "nogroups", Email: "ng@example.test", Password: "lonely-Meadow-signal-27"})
	require.NoError(t, err)
	code, tok, _ := e.passwordLogin(t, "nogroups", "lonely-Meadow-signal-27")
	require.Equal(t, http.StatusOK, code)
	bearer := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/userinfo", bearer, nil, nil), "a user without groups exists")
	code, d := e.authorize(t, tok.AccessToken, api.AuthorizeRequest{Sub: "lerian/" + u.ID, Resource: "ledgers", Action: "get", Product: "midaz"})
	require.Equal(t, http.StatusOK, code)
	require.False(t, d.Authorized, "and is allowed nothing")
	require.NoError(t, e.id.Users().DeleteUser(ctx(), admin, u.ID))
	require.Equal(t, http.StatusUnauthorized, e.do(t, "GET", "/v1/userinfo", bearer, nil, nil), "a deleted user's token stops at once")
}

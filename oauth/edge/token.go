package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/oauth/token"
)

// tokenRoutes are the token endpoint's two faces (RFC 6749's form at
// /oauth/token, Lerian's JSON at /v1/login/oauth/*), MFA completion,
// introspection, revocation, discovery, JWKS, userinfo and logout.
type tokenRoutes struct {
	s   *token.Server
	log *slog.Logger
	// allowed decides a permission as the Identity routes do (the
	// introspect permission).
	allowed func(id, resource, action string) bool
}

// The introspect permission: a client granted it (resource "introspect",
// action "post", decided as the Identity routes decide) reads the claims
// of every token at /oauth/introspect; any other client only those of
// the tokens issued to it or naming it in their audience.
const (
	introspectResource = "introspect"
	introspectAction   = "post"
)

// errBadBasic is Basic credentials that do not decode: a failed client
// authentication (invalid_client).
var errBadBasic = errors.New("invalid client")

// writeLimited sets Retry-After on the answer to a refusal by a rate
// limit (the token endpoint's, the sign-in's per-source throttle, or a
// delivery provider's send limits).
func writeLimited(w http.ResponseWriter, err error) {
	var after time.Duration
	var rl *token.ErrRateLimited
	var th *login.Throttled
	var dl *delivery.ErrRateLimited
	switch {
	case errors.As(err, &rl):
		after = rl.RetryAfter
	case errors.As(err, &th):
		after = th.RetryAfter
	case errors.As(err, &dl):
		after = dl.RetryAfter
	default:
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(after.Round(time.Second)/time.Second)+1))
}

// writeOAuthError writes err in RFC 6749 §5.2's shape.
func writeOAuthError(w http.ResponseWriter, err error) {
	writeLimited(w, err)
	f := api.FaultOf(err)
	code, status := f.OAuth, f.Status
	switch {
	case token.InvalidClient(err) || errors.Is(err, errBadBasic):
		code, status = "invalid_client", http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="accessd"`)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		status = http.StatusBadRequest
	}
	desc := err.Error()
	if f == api.ErrInternal {
		desc = "internal error; the daemon's log has the details"
	}
	w.Header().Set("Pragma", "no-cache")
	api.WriteJSON(w, status, api.OAuthError{Error: code, Description: desc})
}

func writeLerianError(w http.ResponseWriter, err error) {
	writeLimited(w, err)
	api.WriteError(w, err)
}

// internal logs an uncatalogued error, whose detail the answer omits.
func (t tokenRoutes) internal(err error) error {
	if api.FaultOf(err) == api.ErrInternal {
		t.log.Error("token request failed", "event", "token.error", "err", err)
	}
	return err
}

// decodeLerianToken reads the body of Lerian's JSON token endpoints into
// body. The refresh endpoint (grant "refresh_token") takes Lerian's
// RefreshTokenInput only, so a login field sent there (grantType,
// username, password) is refused as an unexpected field (AUT-0003)
// instead of being ignored.
func decodeLerianToken(r *http.Request, grant string, body *api.TokenRequest) error {
	if grant != "refresh_token" {
		return api.DecodeJSON(r.Body, body)
	}
	var rb api.RefreshTokenRequest
	if err := api.DecodeJSON(r.Body, &rb); err != nil {
		return err
	}
	*body = api.TokenRequest{RefreshToken: rb.RefreshToken, Scope: rb.Scope, ClientID: rb.ClientID, ClientSecret: rb.ClientSecret}
	return nil
}

// lerianToken serves Lerian's JSON token endpoints; grant forces the
// grant type (the refresh_token endpoint takes only refreshToken).
func (t tokenRoutes) lerianToken(grant string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body api.TokenRequest
		if err := decodeLerianToken(r, grant, &body); err != nil {
			writeLerianError(w, err)
			return
		}
		req := &token.Request{GrantType: body.GrantType, ClientID: body.ClientID, Username: body.Username,
			RefreshToken: body.RefreshToken, Scope: body.Scope, Nonce: body.Nonce, Cert: peerCert(r), Source: sourceOf(r)}
		if grant != "" {
			req.GrantType = grant
			req.RefreshBearer = grant == "refresh_token"
		} else if body.GrantType != "" && body.GrantType != "password" && body.GrantType != "client_credentials" {
			writeLerianError(w, fmt.Errorf("token: %w: grantType must be \"password\" or \"client_credentials\", got %q", api.ErrInvalidGrant, body.GrantType))
			return
		}
		if body.ClientSecret != "" {
			req.ClientSecret = []byte(body.ClientSecret)
		}
		req.Password = []byte(body.Password)
		out, err := t.s.Token(r.Context(), req)
		if err != nil {
			writeLerianError(w, t.internal(err))
			return
		}
		writeLerian(w, out)
	}
}

func writeLerian(w http.ResponseWriter, out *token.Issued) {
	if out.MFAToken != "" {
		api.WriteJSON(w, http.StatusOK, api.MFAChallenge{MFARequired: true, MFAToken: out.MFAToken, MFATypes: out.MFATypes, ExpiresIn: out.MFATTL})
		return
	}
	api.WriteJSON(w, http.StatusOK, api.TokenResponse{AccessToken: out.Access, TokenType: "Bearer", ExpiresIn: out.ExpiresIn,
		RefreshToken: out.Refresh, Scope: out.Scope, IDToken: out.IDToken})
}

func (t tokenRoutes) mfaChallenge(w http.ResponseWriter, r *http.Request) {
	var body api.MFAChallengeRequest
	if err := api.DecodeJSON(r.Body, &body); err != nil {
		writeLerianError(w, err)
		return
	}
	out, err := t.s.MFA().Challenge(r.Context(), body, sourceOf(r))
	if err != nil {
		writeLerianError(w, t.internal(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (t tokenRoutes) mfaVerify(w http.ResponseWriter, r *http.Request) {
	var body api.MFALoginRequest
	if err := api.DecodeJSON(r.Body, &body); err != nil {
		writeLerianError(w, err)
		return
	}
	out, err := t.s.MFA().Verify(r.Context(), body, sourceOf(r))
	if err != nil {
		writeLerianError(w, t.internal(err))
		return
	}
	writeLerian(w, out)
}

// oauthForm parses an RFC 6749 form body and the client credentials of
// a request: Basic (RFC 6749 §2.3.1: each part form-encoded) or form
// fields, never both; repeated parameters are refused (§3.2).
func oauthForm(r *http.Request) (url.Values, *token.Request, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		return nil, nil, fmt.Errorf("token: %w: send the parameters as application/x-www-form-urlencoded", api.ErrBadRequest)
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, fmt.Errorf("token: %w: body over %d bytes", api.ErrTooLarge, mbe.Limit)
		}
		return nil, nil, fmt.Errorf("token: %w: malformed form body: %v", api.ErrBadRequest, err)
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 {
			return nil, nil, fmt.Errorf("token: %w: parameter %q is repeated", api.ErrBadRequest, k)
		}
	}
	req := &token.Request{GrantType: form.Get("grant_type"), ClientID: form.Get("client_id"),
		Username: form.Get("username"), RefreshToken: form.Get("refresh_token"), Scope: form.Get("scope"),
		Nonce: form.Get("nonce"), Cert: peerCert(r), Source: sourceOf(r)}
	if form.Has("password") {
		req.Password = []byte(form.Get("password"))
	}
	if form.Has("client_secret") {
		req.ClientSecret = []byte(form.Get("client_secret"))
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if req.ClientSecret != nil {
			return nil, nil, fmt.Errorf("token: %w: use one client authentication method, not Basic and client_secret both", api.ErrBadRequest)
		}
		uid, err1 := url.QueryUnescape(id)
		usec, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("%w: token: %w: malformed Basic credentials", errBadBasic, api.ErrBadRequest)
		}
		if req.ClientID != "" && req.ClientID != uid {
			return nil, nil, fmt.Errorf("token: %w: client_id differs from the Basic credentials", api.ErrBadRequest)
		}
		req.ClientID, req.ClientSecret = uid, []byte(usec)
	}
	return form, req, nil
}

func (t tokenRoutes) oauthToken(w http.ResponseWriter, r *http.Request) {
	_, req, err := oauthForm(r)
	if err != nil {
		writeOAuthError(w, err)
		return
	}
	out, err := t.s.Token(r.Context(), req)
	if err != nil {
		writeOAuthError(w, t.internal(err))
		return
	}
	w.Header().Set("Pragma", "no-cache")
	if out.MFAToken != "" {
		api.WriteJSON(w, http.StatusForbidden, api.OAuthError{Error: "mfa_required",
			Description: "complete the sign-in at POST /v1/login/mfa/verify with this mfa_token", MFAToken: out.MFAToken})
		return
	}
	api.WriteJSON(w, http.StatusOK, api.OAuthTokenResponse{AccessToken: out.Access, TokenType: "Bearer",
		ExpiresIn: out.ExpiresIn, RefreshToken: out.Refresh, Scope: out.Scope, IDToken: out.IDToken})
}

// authenticated parses an introspection or revocation request and
// authenticates its client, which both require.
func (t tokenRoutes) authenticated(w http.ResponseWriter, r *http.Request) (url.Values, token.AuthenticatedClient, bool) {
	form, req, err := oauthForm(r)
	if err != nil {
		writeOAuthError(w, err)
		return nil, token.AuthenticatedClient{}, false
	}
	cl, err := t.s.AuthenticateClient(r.Context(), req)
	if err != nil {
		writeOAuthError(w, t.internal(err))
		return nil, token.AuthenticatedClient{}, false
	}
	if form.Get("token") == "" {
		writeOAuthError(w, fmt.Errorf("token: %w: the token parameter is required", api.ErrBadRequest))
		return nil, token.AuthenticatedClient{}, false
	}
	return form, cl, true
}

func (t tokenRoutes) introspect(w http.ResponseWriter, r *http.Request) {
	form, cl, ok := t.authenticated(w, r)
	if !ok {
		return
	}
	by := token.Introspector{ClientID: cl.ClientID, Any: t.allowed != nil && t.allowed(cl.ID, introspectResource, introspectAction)}
	api.WriteJSON(w, http.StatusOK, t.s.Introspect(by, form.Get("token"), form.Get("token_type_hint")))
}

// revoke is RFC 7009: a token of another client is left alone, answered
// with the same 200 as a revoked one, so the answer reveals nothing.
func (t tokenRoutes) revoke(w http.ResponseWriter, r *http.Request) {
	form, cl, ok := t.authenticated(w, r)
	if !ok {
		return
	}
	if err := t.s.Revoker().Revoke(r.Context(), cl.ClientID, form.Get("token"), sourceOf(r)); err != nil {
		writeOAuthError(w, t.internal(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (t tokenRoutes) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(t.s.Keys().JWKS())
}

func (t tokenRoutes) discovery(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, t.s.Discovery())
}

func (t tokenRoutes) userinfo(w http.ResponseWriter, r *http.Request) {
	p, err := t.s.Presented(bearerOf(r), peerCert(r))
	if err != nil {
		writeLerianError(w, err)
		return
	}
	out, err := t.s.UserInfo(p)
	if err != nil {
		writeLerianError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// logout ends the presented token's session: a bearer header, or the
// form field id_token_hint that Lerian's console sends (an ID token of
// accessd, or an access token).
func (t tokenRoutes) logout(w http.ResponseWriter, r *http.Request) {
	tok := bearerOf(r)
	if tok == "" && strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			tok = r.PostForm.Get("id_token_hint")
		}
	}
	p, err := t.s.Presented(tok, peerCert(r))
	if err != nil && t.s.Revoker().LogoutIDToken(r.Context(), tok, sourceOf(r)) == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		writeLerianError(w, fmt.Errorf("token: %w: send the session's access token as a bearer or id_token_hint", api.ErrBadRequest))
		return
	}
	if err := t.s.Revoker().Logout(r.Context(), p, sourceOf(r)); err != nil {
		writeLerianError(w, t.internal(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

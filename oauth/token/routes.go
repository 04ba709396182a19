package token

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
)

// Routes registers the token endpoint's two faces, MFA completion,
// introspection, revocation, discovery, JWKS, userinfo and logout on the
// data plane's mux.
func Routes(mux *http.ServeMux, s *Server) {
	mux.HandleFunc("POST /v1/login/oauth/access_token", s.lerianToken(""))
	mux.HandleFunc("POST /v1/login/oauth/refresh_token", s.lerianToken("refresh_token"))
	mux.HandleFunc("POST /v1/login/mfa/challenge", s.mfaChallenge)
	mux.HandleFunc("POST /v1/login/mfa/verify", s.mfaVerify)
	mux.HandleFunc("POST /oauth/token", s.oauthToken)
	mux.HandleFunc("POST /oauth/introspect", s.introspect)
	mux.HandleFunc("POST /oauth/revoke", s.revoke)
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.discovery)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /v1/userinfo", s.userinfo)
	mux.HandleFunc("POST /v1/logout", s.logout)
}

// Bearer is the access token of a request: `Authorization: Bearer T`, or
// the bare token lib-auth sends after stripping "Bearer ".
func Bearer(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		h = strings.TrimSpace(h[7:])
	}
	if strings.ContainsAny(h, " \t") {
		return "" // another scheme (Basic …), or not one token
	}
	return h
}

// Source is the audit source of a request: the peer's address.
func Source(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func peerCert(r *http.Request) *x509.Certificate {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return r.TLS.VerifiedChains[0][0]
	}
	return nil
}

// Authenticate is the data plane's bearer check for the Identity routes.
func (s *Server) Authenticate(r *http.Request) (identity.Actor, error) {
	tok := Bearer(r)
	if tok == "" {
		return identity.Actor{}, fmt.Errorf("token: %w: send an access token in the Authorization header", api.ErrTokenMissing)
	}
	p, err := s.presented(r, tok)
	if err != nil {
		return identity.Actor{}, err
	}
	return s.withSession(p.Actor(Source(r)), p), nil
}

// presented verifies a token its holder presents to accessd itself (the
// Identity routes, userinfo, permissions, logout): besides Verify, a
// token bound to a client certificate (cnf.x5t#S256) must come over that
// certificate (RFC 8705 §3). /v1/authorize and introspection are asked
// by resource servers, which check the binding themselves.
// errNoToken is a call that presents no access token at all: Lerian's
// AUT-0006, apart from a token that is sent and refused (AUT-0401).
var errNoToken = fmt.Errorf("token: %w: send an access token in the Authorization header (Bearer)", api.ErrTokenMissing)

func (s *Server) presented(r *http.Request, tok string) (Principal, error) {
	p, err := s.Verify(tok)
	if err != nil {
		if tok == "" {
			return p, errNoToken
		}
		return p, err
	}
	if c := p.Claims.Cnf; c != nil {
		if tp := thumbprint(peerCert(r)); tp == nil || tp.X5tS256 != c.X5tS256 {
			s.metrics.verifyFailed.WithLabelValues("binding").Inc()
			return Principal{}, errBadToken
		}
	}
	return p, nil
}

// errInvalidClient marks a failed client authentication, which RFC 6749
// answers as invalid_client with 401.
var errInvalidClient = errors.New("invalid client")

func writeLimited(w http.ResponseWriter, err error) {
	var rl *ErrRateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Round(time.Second)/time.Second)+1))
	}
}

// writeOAuthError writes err in RFC 6749 §5.2's shape.
func writeOAuthError(w http.ResponseWriter, err error) {
	writeLimited(w, err)
	f := api.FaultOf(err)
	code, status := f.OAuth, f.Status
	switch {
	case errors.Is(err, errInvalidClient) || errors.Is(err, errNoClient):
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

// lerianToken serves Lerian's JSON token endpoints; grant forces the
// grant type (the refresh_token endpoint takes only refreshToken).
func (s *Server) lerianToken(grant string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body api.TokenRequest
		if err := decodeLerianToken(r, grant, &body); err != nil {
			writeLerianError(w, err)
			return
		}
		req := &tokenRequest{ctx: r.Context(), grantType: body.GrantType, clientID: body.ClientID, username: body.Username,
			refreshToken: body.RefreshToken, scope: body.Scope, nonce: body.Nonce, cert: peerCert(r), source: Source(r)}
		if grant != "" {
			req.grantType = grant
		} else if body.GrantType != "" && body.GrantType != "password" && body.GrantType != "client_credentials" {
			writeLerianError(w, fmt.Errorf("token: %w: grantType must be \"password\" or \"client_credentials\", got %q", api.ErrInvalidGrant, body.GrantType))
			return
		}
		if body.ClientSecret != "" {
			req.clientSecret = []byte(body.ClientSecret)
		}
		req.password = []byte(body.Password)
		out, err := s.token(req)
		if err != nil {
			writeLerianError(w, s.internal(err))
			return
		}
		s.writeLerian(w, out)
	}
}

func (s *Server) writeLerian(w http.ResponseWriter, out *issued) {
	if out.mfaToken != "" {
		api.WriteJSON(w, http.StatusOK, api.MFAChallenge{MFARequired: true, MFAToken: out.mfaToken, MFATypes: out.mfaTypes, ExpiresIn: out.mfaTTL})
		return
	}
	api.WriteJSON(w, http.StatusOK, api.TokenResponse{AccessToken: out.access, TokenType: "Bearer", ExpiresIn: out.expiresIn,
		RefreshToken: out.refresh, Scope: out.scope, IDToken: out.idToken})
}

// internal logs an uncatalogued error, whose detail the answer omits.
func (s *Server) internal(err error) error {
	if api.FaultOf(err) == api.ErrInternal {
		s.log.Error("token request failed", "event", "token.error", "err", err)
	}
	return err
}

func (s *Server) mfaChallenge(w http.ResponseWriter, r *http.Request) {
	var body api.MFAChallengeRequest
	if err := api.DecodeJSON(r.Body, &body); err != nil {
		writeLerianError(w, err)
		return
	}
	out, err := s.ChallengeMFA(r.Context(), body, Source(r))
	if err != nil {
		writeLerianError(w, s.internal(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) mfaVerify(w http.ResponseWriter, r *http.Request) {
	var body api.MFALoginRequest
	if err := api.DecodeJSON(r.Body, &body); err != nil {
		writeLerianError(w, err)
		return
	}
	out, err := s.VerifyMFA(r.Context(), body, Source(r))
	if err != nil {
		writeLerianError(w, s.internal(err))
		return
	}
	s.writeLerian(w, out)
}

// oauthForm parses an RFC 6749 form body and the client credentials of
// a request: Basic (RFC 6749 §2.3.1: each part form-encoded) or form
// fields, never both; repeated parameters are refused (§3.2).
func oauthForm(r *http.Request) (url.Values, *tokenRequest, error) {
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
	req := &tokenRequest{ctx: r.Context(), grantType: form.Get("grant_type"), clientID: form.Get("client_id"),
		username: form.Get("username"), refreshToken: form.Get("refresh_token"), scope: form.Get("scope"),
		nonce: form.Get("nonce"), cert: peerCert(r), source: Source(r)}
	if form.Has("password") {
		req.password = []byte(form.Get("password"))
	}
	if form.Has("client_secret") {
		req.clientSecret = []byte(form.Get("client_secret"))
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if req.clientSecret != nil {
			return nil, nil, fmt.Errorf("token: %w: use one client authentication method, not Basic and client_secret both", api.ErrBadRequest)
		}
		uid, err1 := url.QueryUnescape(id)
		usec, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("%w: token: %w: malformed Basic credentials", errInvalidClient, api.ErrBadRequest)
		}
		if req.clientID != "" && req.clientID != uid {
			return nil, nil, fmt.Errorf("token: %w: client_id differs from the Basic credentials", api.ErrBadRequest)
		}
		req.clientID, req.clientSecret = uid, []byte(usec)
	}
	return form, req, nil
}

func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	_, req, err := oauthForm(r)
	if err != nil {
		writeOAuthError(w, err)
		return
	}
	out, err := s.token(req)
	if err != nil {
		writeOAuthError(w, s.internal(err))
		return
	}
	w.Header().Set("Pragma", "no-cache")
	if out.mfaToken != "" {
		api.WriteJSON(w, http.StatusForbidden, api.OAuthError{Error: "mfa_required",
			Description: "complete the sign-in at POST /v1/login/mfa/verify with this mfa_token", MFAToken: out.mfaToken})
		return
	}
	api.WriteJSON(w, http.StatusOK, api.OAuthTokenResponse{AccessToken: out.access, TokenType: "Bearer",
		ExpiresIn: out.expiresIn, RefreshToken: out.refresh, Scope: out.scope, IDToken: out.idToken})
}

// authenticated parses an introspection or revocation request and
// authenticates its client, which both require.
func (s *Server) authenticated(w http.ResponseWriter, r *http.Request) (url.Values, string, bool) {
	form, req, err := oauthForm(r)
	if err != nil {
		writeOAuthError(w, err)
		return nil, "", false
	}
	defer req.clear()
	cl, err := s.client(req)
	if err == nil && cl == nil {
		err = errNoClient
	}
	if err != nil {
		writeOAuthError(w, s.internal(err))
		return nil, "", false
	}
	if form.Get("token") == "" {
		writeOAuthError(w, fmt.Errorf("token: %w: the token parameter is required", api.ErrBadRequest))
		return nil, "", false
	}
	return form, cl.ClientID, true
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	form, _, ok := s.authenticated(w, r)
	if !ok {
		return
	}
	out := s.Introspect(form.Get("token"), form.Get("token_type_hint"))
	s.metrics.introspect.WithLabelValues(strconv.FormatBool(out.Active)).Inc()
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	form, clientID, ok := s.authenticated(w, r)
	if !ok {
		return
	}
	if err := s.Revoke(r.Context(), clientID, form.Get("token"), Source(r)); err != nil {
		writeOAuthError(w, s.internal(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(s.keys.JWKS())
}

// discovery is RFC 8414's metadata (also served as OpenID's), naming only
// what this server does.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	authMethods := []string{"client_secret_basic", "client_secret_post", "tls_client_auth"}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.issuer,
		"token_endpoint":                        s.issuer + "/oauth/token",
		"jwks_uri":                              s.issuer + "/.well-known/jwks.json",
		"introspection_endpoint":                s.issuer + "/oauth/introspect",
		"revocation_endpoint":                   s.issuer + "/oauth/revoke",
		"userinfo_endpoint":                     s.issuer + "/v1/userinfo",
		"grant_types_supported":                 []string{"client_credentials", "password", "refresh_token"},
		"response_types_supported":              []string{},
		"token_endpoint_auth_methods_supported": authMethods,
		"introspection_endpoint_auth_methods_supported": authMethods,
		"revocation_endpoint_auth_methods_supported":    authMethods,
		"tls_client_certificate_bound_access_tokens":    true,
		"access_token_signing_alg_values_supported":     []string{s.cfg.SigningAlg},
		// ID tokens come with the password grant and its refreshes.
		"id_token_signing_alg_values_supported": []string{s.cfg.SigningAlg},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      idTokenClaims,
	})
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	p, err := s.presented(r, Bearer(r))
	if err != nil {
		writeLerianError(w, err)
		return
	}
	if !p.User() {
		writeLerianError(w, fmt.Errorf("token: %w: userinfo is for user tokens; this is an application's", api.ErrForbidden))
		return
	}
	u, err := s.st.Users().Get(p.SubjectID)
	if err != nil {
		writeLerianError(w, errBadToken)
		return
	}
	api.WriteJSON(w, http.StatusOK, api.UserInfo{Sub: u.ID, Name: displayName(u), Email: u.Email, PreferredUsername: u.Username,
		GivenName: u.FirstName, FamilyName: u.LastName})
}

// logout ends the presented token's session: a bearer header, or the
// form field id_token_hint that Lerian's console sends (an ID token of
// accessd, or an access token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	tok := Bearer(r)
	if tok == "" && strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			tok = r.PostForm.Get("id_token_hint")
		}
	}
	p, err := s.presented(r, tok)
	if err != nil && s.idTokenLogout(r.Context(), tok, Source(r)) == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		writeLerianError(w, fmt.Errorf("token: %w: send the session's access token as a bearer or id_token_hint", api.ErrBadRequest))
		return
	}
	if err := s.Logout(r.Context(), p, Source(r)); err != nil {
		writeLerianError(w, s.internal(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// AdminRoutes registers the signing-key routes of the admin plane: GET
// /v1/keys (`accessctl keys list`) and POST /v1/keys/rotate (`accessctl
// keys rotate`: the published next key starts signing now, the old one
// stays in JWKS until its tokens expire).
func AdminRoutes(mux *http.ServeMux, s *Server, authenticate func(*http.Request) (identity.Actor, error)) {
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		if _, err := authenticate(r); err != nil {
			api.WriteError(w, err)
			return
		}
		keys, err := s.keys.List()
		if err != nil {
			api.WriteError(w, s.internal(err))
			return
		}
		api.WriteJSON(w, http.StatusOK, keys)
	})
	mux.HandleFunc("POST /v1/keys/rotate", func(w http.ResponseWriter, r *http.Request) {
		a, err := authenticate(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		err = s.keys.Maintain(true)
		result := "ok"
		if err != nil {
			result = "failed"
		}
		s.record(r.Context(), "keys.rotate", a.Name, "signing-keys", result, a.Source, nil)
		if err != nil {
			api.WriteError(w, s.internal(err))
			return
		}
		keys, err := s.keys.List()
		if err != nil {
			api.WriteError(w, s.internal(err))
			return
		}
		api.WriteJSON(w, http.StatusOK, keys)
	})
}

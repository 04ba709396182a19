package api

// The token endpoint's two faces (DESIGN §4): Lerian's JSON in camelCase
// on /v1/login/*, RFC 6749's form and snake_case on /oauth/token. One
// engine answers both.

// TokenRequest is the JSON body of POST /v1/login/oauth/access_token and
// /v1/login/oauth/refresh_token.
type TokenRequest struct {
	GrantType    string `json:"grantType"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refreshToken"`
	Scope        string `json:"scope"`
	// Nonce, optional, is copied into the ID token of a password grant
	// (OpenID Connect Core §3.1.2.1), to bind it to the client's session.
	Nonce string `json:"nonce,omitempty"`
}

// RefreshTokenRequest is the JSON body of POST
// /v1/login/oauth/refresh_token: Lerian's RefreshTokenInput (refreshToken,
// scope). ClientID and ClientSecret are accessd's: when sent, they must
// be the credentials of the client the refresh token was issued to.
type RefreshTokenRequest struct {
	RefreshToken string `json:"refreshToken"`
	Scope        string `json:"scope,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
}

// TokenResponse is Lerian's token object.
type TokenResponse struct {
	AccessToken  string `json:"accessToken"`
	IDToken      string `json:"idToken,omitempty"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int64  `json:"expiresIn"`
	RefreshToken string `json:"refreshToken,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// OAuthTokenResponse is RFC 6749 §5.1's token response.
type OAuthTokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// MFAChallenge answers a password grant whose user has a second factor
// on: no token yet, a short-lived single-use mfaToken to complete at
// POST /v1/login/mfa/verify.
type MFAChallenge struct {
	MFARequired bool     `json:"mfaRequired"`
	MFAToken    string   `json:"mfaToken"`
	MFATypes    []string `json:"mfaTypes"`
	ExpiresIn   int64    `json:"expiresIn"`
}

// MFAChallengeRequest is the body of POST /v1/login/mfa/challenge: send
// a code for an open challenge by e-mail or SMS to the user's own
// enrolled address or number.
type MFAChallengeRequest struct {
	MFAToken string `json:"mfaToken"`
	MFAType  string `json:"mfaType"`
}

// MFAChallengeSent answers MFAChallengeRequest.
type MFAChallengeSent struct {
	Message string `json:"message"`
}

// MFALoginRequest is the body of POST /v1/login/mfa/verify.
type MFALoginRequest struct {
	MFAToken       string `json:"mfaToken"`
	Passcode       string `json:"passcode"`
	MFAType        string `json:"mfaType"`
	RecoveryCode   string `json:"recoveryCode"`
	RememberDevice bool   `json:"rememberDevice"`
}

// AuthorizeRequest is the body lib-auth sends to POST /v1/authorize.
type AuthorizeRequest struct {
	Sub        string            `json:"sub"`
	Resource   string            `json:"resource"`
	Action     string            `json:"action"`
	Product    string            `json:"product,omitempty"`
	ClientIP   string            `json:"clientIp,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// AuthorizeResponse is the decision; Timestamp is RFC 3339 (lib-auth
// decodes it into time.Time).
type AuthorizeResponse struct {
	Authorized bool   `json:"authorized"`
	Timestamp  string `json:"timestamp"`
}

// UserInfo answers GET /v1/userinfo.
type UserInfo struct {
	Sub               string `json:"sub"`
	Name              string `json:"name"`
	Email             string `json:"email"`
	EmailVerified     bool   `json:"emailVerified"`
	PreferredUsername string `json:"preferredUsername"`
	GivenName         string `json:"givenName,omitempty"`
	FamilyName        string `json:"familyName,omitempty"`
	Picture           string `json:"picture"`
	Profile           string `json:"profile"`
}

// OAuthError is RFC 6749 §5.2's error body, on /oauth/*.
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// MFAToken is set with error "mfa_required" on a password grant at
	// /oauth/token whose user has a second factor on.
	MFAToken string `json:"mfa_token,omitempty"`
}

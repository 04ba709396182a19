package token

import (
	"net/http"

	"github.com/accessd/accessd/oauth/api"
)

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

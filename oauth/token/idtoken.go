package token

import (
	"fmt"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// IDClaims are an OpenID Connect ID token's claims (Core §2, §5.1): who
// signed in, to which client, when, and the nonce the client sent. An
// ID token says who the user is; it grants nothing: it is signed under
// typ "JWT", which the access-token verifier refuses.
type IDClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          []string `json:"aud"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time"`
	Nonce             string   `json:"nonce,omitempty"`
	AZP               string   `json:"azp"`
	SessionID         string   `json:"sid,omitempty"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email,omitempty"`
	GivenName         string   `json:"given_name,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	DisplayName       string   `json:"displayName"`
	TenantID          string   `json:"tenantId,omitempty"`
	TenantSlug        string   `json:"tenantSlug,omitempty"`
}

// idTokenClaims is what discovery lists in claims_supported.
var idTokenClaims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid",
	"name", "preferred_username", "email", "given_name", "family_name", "displayName", "tenantId", "tenantSlug"}

// maxNonce bounds the nonce a client may send; it is copied into a token.
const maxNonce = 255

// checkNonce accepts an empty nonce (none sent) or up to maxNonce
// printable ASCII characters, which is what OpenID clients send (random
// base64url or hex).
func checkNonce(n string) error {
	if len(n) > maxNonce {
		return fmt.Errorf("token: %w: nonce is longer than %d characters", api.ErrInvalidField, maxNonce)
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e {
			return fmt.Errorf("token: %w: nonce may contain only printable ASCII characters, no spaces", api.ErrInvalidField)
		}
	}
	return nil
}

// displayName is a user's first and last name, else the username.
func displayName(u store.User) string {
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	return u.Username
}

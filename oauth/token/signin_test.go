package token_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// TestUnknownEmailAnswersLikeWrongPassword: on both faces of the token
// endpoint, an unknown address, an unknown username and a wrong
// password get the same status and the same bytes.
func TestUnknownEmailAnswersLikeWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	e.user(t, "elisa", "granite-Willow-tea-83")
	lerian := func(name, pw string) (int, string) {
		var raw json.RawMessage
		code := e.postJSON(t, "/v1/login/oauth/access_token", nil, api.TokenRequest{GrantType: "password", Username: name, Password: pw}, &raw)
		return code, string(raw)
	}
	oauth := func(name, pw string) (int, string) {
		var raw json.RawMessage
		code := e.postForm(t, "/oauth/token", [2]string{}, url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}}, &raw)
		return code, string(raw)
	}
	for face, send := range map[string]func(string, string) (int, string){"lerian": lerian, "oauth": oauth} {
		t.Run(face, func(t *testing.T) {
			wantCode, want := send("elisa@example.test", "wrong-password-here-9")
			require.Contains(t, []int{http.StatusUnauthorized, http.StatusBadRequest}, wantCode, want)
			for _, name := range []string{"nobody@example.test", "ELISA@example.org", "nobody", "elisa@example.test.", "@"} {
				code, body := send(name, "wrong-password-here-9")
				require.Equal(t, wantCode, code, name)
				require.Equal(t, want, body, name)
			}
		})
	}
}

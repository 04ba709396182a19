package token_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// TestStrictJSONOnRoutes: the JSON routes of the data plane decode
// through the one strict decoder, so a key sent twice or in another
// case than its field's is a 400 naming it, before anything is decided.
func TestStrictJSONOnRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	e.user(t, "hana", "cobalt-Orchard-violin-52")
	_, tok, _ := e.passwordLogin(t, "hana", "cobalt-Orchard-violin-52")
	_, err := e.id.Groups().CreateGroup(ctx(), admin, api.CreateGroupRequest{Name: "editors"})
	require.NoError(t, err)
	_, err = e.id.Groups().Grant(ctx(), admin, "editors", api.Permission{Resource: "groups", Action: "*"})
	require.NoError(t, err)
	_, err = e.id.Users().CreateUser(ctx(), admin, api.CreateUserRequest{Username: "ivo", Email: "ivo@example.test", Password: "garnet-Willow-sonar-64", Groups: []string{"editors"}})
	require.NoError(t, err)
	_, ed, _ := e.passwordLogin(t, "ivo", "garnet-Willow-sonar-64")
	for _, tc := range []struct {
		path, bearer, body, code, says string
	}{
		{"/v1/login/oauth/access_token", "", `{"grantType":"password","username":"hana","password":"cobalt-Orchard-violin-52","UserName":"admin"}`, "AUT-0003", `"UserName"`},
		{"/v1/login/oauth/access_token", "", `{"grantType":"password","username":"hana","username":"admin","password":"x"}`, "AUT-0009", `"username" appears twice`},
		{"/v1/login/oauth/refresh_token", "", `{"refreshToken":"` + tok.RefreshToken + `","RefreshToken":"acr_x"}`, "AUT-0003", `"RefreshToken"`},
		{"/v1/login/mfa/verify", "", `{"mfaToken":"a","mfaToken":"b"}`, "AUT-0009", "appears twice"},
		{"/v1/authorize", tok.AccessToken, `{"sub":"lerian/x","resource":"ledgers","action":"get","Action":"delete"}`, "AUT-0003", `"Action"`},
		{"/v1/groups", "Bearer " + ed.AccessToken, `{"name":"a","name":"b"}`, "AUT-0009", "appears twice"},
	} {
		t.Run(tc.path+" "+tc.code, func(t *testing.T) {
			var fail api.Error
			hdr := map[string]string{"Content-Type": "application/json"}
			if tc.bearer != "" {
				hdr["Authorization"] = tc.bearer
			}
			require.Equal(t, http.StatusBadRequest, e.do(t, "POST", tc.path, hdr, strings.NewReader(tc.body), &fail), "%+v", fail)
			require.Equal(t, tc.code, fail.Code, "%+v", fail)
			require.Contains(t, fail.Message, tc.says)
		})
	}
}

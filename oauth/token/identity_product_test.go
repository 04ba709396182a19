package token_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// TestIdentityGrantsStayInIdentity: the seeded identity editor manages
// identities on the Identity routes, which decide in product
// "identity", and is allowed nothing in another product: /v1/authorize
// refuses "midaz users delete", with or without the default product,
// and /v1/permissions?product=midaz lists nothing.
func TestIdentityGrantsStayInIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, token.DefaultConfig())
	tok, id := e.userToken(t, "ivan", "identity-editor-group")
	for _, tc := range []struct {
		name    string
		product string
		want    bool
	}{
		{"another product", "midaz", false},
		{"the default product", "", false},
		{"a plugin", "plugin-crm", false},
		{"the identity product", "identity", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, d := e.authorize(t, tok, api.AuthorizeRequest{Sub: "lerian/" + id, Resource: "users", Action: "delete", Product: tc.product})
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, tc.want, d.Authorized, "users delete in product %q", tc.product)
		})
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	var users []api.User
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/users", auth, nil, &users), "the Identity routes still let the editor in")
	var perms map[string][]string
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/permissions?product=midaz", auth, nil, &perms))
	require.Empty(t, perms, "nothing in midaz")
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/v1/permissions/", auth, nil, &perms))
	require.Equal(t, []string{"*"}, perms["users"], "the console still shows the Users page")
}

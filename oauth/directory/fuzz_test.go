package directory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store"
)

// FuzzSignInName: a sign-in name resolves to an account only through
// its canonical username or its folded address, never by accident, and
// no name panics.
func FuzzSignInName(f *testing.F) {
	for _, s := range []string{"maria", "MARIA", "Maria.Silva@Example.com", "maria.silva@example.com.", "@", "", "ｍａｒｉａ", "maria\x00", "K@example.com", strings.Repeat("a@", 200)} {
		f.Add(s)
	}
	e := newEnv(f, directory.Config{})
	_, err := e.Service.Users().CreateUser(context.Background(), admin, api.CreateUserRequest{Username: "maria", Email: "Maria.Silva@Example.com"})
	require.NoError(f, err)
	mine := e.Service.SignInDirectory().AttemptKey("maria")
	f.Fuzz(func(t *testing.T, name string) {
		if e.Service.SignInDirectory().AttemptKey(name) != mine {
			return
		}
		c, err := credential.CanonicalUsername(name)
		assert.True(t, err == nil && c == "maria" || store.FoldEmail(name) == "maria.silva@example.com", "%q resolved to maria", name)
	})
}

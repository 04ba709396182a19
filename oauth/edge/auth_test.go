package edge

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzBearerHeader(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "abc", "Basic Zm9vOmJhcg==", "", "Bearer", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		got := bearerOf(r)
		require.NotContains(t, got, " ", "a bearer token never has a space")
	})
}

func TestBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, header, want string }{
		{"scheme", "Bearer abc", "abc"},
		{"scheme in lower case, spaces around", "bearer  abc ", "abc"},
		{"bare token, as lib-auth sends it", "abc", "abc"},
		{"another scheme", "Basic Zm9vOmJhcg==", ""},
		{"none", "", ""},
		{"two tokens", "Bearer a b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", tc.header)
			require.Equal(t, tc.want, bearerOf(r))
		})
	}
}

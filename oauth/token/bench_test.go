package token_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/token"
)

// The hot paths in process, without TLS or a load generator: what one
// request costs the daemon's handlers. scripts/bench measures the daemon
// over TLS against a bare ceiling.

func benchHandler(b *testing.B, e *env) http.Handler {
	b.Helper()
	return e.srv.Config.Handler
}

func BenchmarkClientCredentialsHandler(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			cfg := token.DefaultConfig()
			cfg.SigningAlg = alg
			e := newEnv(b, cfg)
			a := e.app(b, "bench")
			h := benchHandler(b, e)
			body := "grant_type=client_credentials"
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.SetBasicAuth(a.ClientID, a.ClientSecret)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatal(w.Code, w.Body.String())
					}
				}
			})
		})
	}
}

func BenchmarkAuthorizeHandler(b *testing.B) {
	e := newEnv(b, token.DefaultConfig())
	a := e.app(b, "bench")
	var tok api.OAuthTokenResponse
	require.Equal(b, http.StatusOK, e.postForm(b, "/oauth/token", [2]string{a.ClientID, a.ClientSecret}, url.Values{"grant_type": {"client_credentials"}}, &tok))
	h := benchHandler(b, e)
	body := `{"action":"get","product":"midaz","resource":"accounts","sub":"lerian/` + a.ClientID + `"}`
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/v1/authorize", strings.NewReader(body))
			r.Header.Set("Authorization", tok.AccessToken)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"authorized":true`) {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	})
}

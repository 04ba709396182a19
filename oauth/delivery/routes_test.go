package delivery_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/edge"
)

// TestProviderRoutes drives the reported attacks over the data plane's
// HTTP routes, as a bearer with the providers permission: repointing a
// provider (url and caPem) without its secret is a 400 naming
// clientSecret, with it a 200; disableSsl is a 403; the sixth test send
// in a row is a 429 with Retry-After.
func TestProviderRoutes(t *testing.T) {
	t.Parallel()
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{})
	ops := e.User(t, "ops")
	mux := http.NewServeMux()
	edge.IdentityRoutes(mux, e.Service, edge.Plane{Audit: e.Audit, Now: e.Clock.Now,
		Allowed: func(id, resource, action string) bool { return id == ops.ID && resource == "providers" },
		Authenticate: func(r *http.Request) (change.Actor, error) {
			return change.Actor{Name: "user:" + ops.ID, SubjectID: ops.ID, Source: "192.0.2.7"}, nil
		}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	do := func(method, path, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	js := func(kv ...string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < len(kv); i += 2 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(strconv.Quote(kv[i]) + ":" + strconv.Quote(kv[i+1]))
		}
		return b.String() + "}"
	}
	caA, caB := deliverytest.NewCA(t), deliverytest.NewCA(t)
	gwA, gwB := deliverytest.NewGateway(t, caA, 0), deliverytest.NewGateway(t, caB, 0)

	resp, body := do("POST", "/v1/providers", js("name", "sms", "category", "SMS", "url", gwA.URL, "template", smsTemplate, "caPem", caA.PEM, "clientId", "acct", "clientSecret", "gateway-Secret-1"))
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = do("PATCH", "/v1/providers/sms", js("url", gwB.URL, "caPem", caB.PEM))
	require.Equal(t, 400, resp.StatusCode, body)
	require.Contains(t, body, "clientSecret")
	resp, body = do("POST", "/v1/providers/sms/test", js("to", "+4915112345678"))
	require.Equal(t, 200, resp.StatusCode, body)
	gwA.Next(t)
	require.Zero(t, gwB.Count())
	resp, body = do("PATCH", "/v1/providers/sms", js("url", gwB.URL, "caPem", caB.PEM, "clientSecret", "gateway-Secret-2"))
	require.Equal(t, 200, resp.StatusCode, body)

	resp, body = do("POST", "/v1/providers", `{"name":"plain","category":"SMS","url":"http://127.0.0.1:9/send","template":`+strconv.Quote(smsTemplate)+`,"disableSsl":true}`)
	require.Equal(t, 403, resp.StatusCode, body)
	require.Contains(t, body, "disableSsl")

	for i := range 4 { // one test send above
		resp, body = do("POST", "/v1/providers/sms/test", js("to", "+49151123456"+strconv.Itoa(10+i)))
		require.Equal(t, 200, resp.StatusCode, body)
		gwB.Next(t)
	}
	resp, body = do("POST", "/v1/providers/sms/test", js("to", "+4915112345699"))
	require.Equal(t, 429, resp.StatusCode, body)
	after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	require.Positive(t, after)
}

package edge

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/directory"
)

// FuzzPageOf: ?page= and ?limit= come from any caller; pageOf never
// panics, refuses only with AUT-0004, and what it accepts is in range.
func FuzzPageOf(f *testing.F) {
	for _, q := range []string{"", "page=2&limit=10", "limit=0", "page=-1", "limit=1001", "page=1&page=2", "limit=%zz", "page=99999999999999999999"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/v1/users", RawQuery: q}}
		p, err := pageOf(r)
		if err != nil {
			require.ErrorIs(t, err, api.ErrInvalidQuery, "%q: %v is not AUT-0004", q, err)
			return
		}
		require.True(t, p.page >= 1 && p.page <= directory.MaxPage, "%q: accepted out of range %+v", q, p)
		require.True(t, p.limit >= 1 && p.limit <= directory.MaxLimit, "%q: accepted out of range %+v", q, p)
	})
}

package directory_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/directory"
)

var nextRe = regexp.MustCompile(`^<(/[^>]*)>; rel="next"$`)

// getList fetches one page and returns its entries (decoded as a JSON
// array: Lerian's list shape) and the next page's link, "" on the last.
func getList(t *testing.T, c *http.Client, path string) ([]map[string]any, string) {
	t.Helper()
	resp, err := c.Get("http://accessd" + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, path)
	var out []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out), "a list is a bare JSON array")
	require.NotNil(t, out, "an empty list is [], not null")
	link := resp.Header.Get("Link")
	if link == "" {
		return out, ""
	}
	m := nextRe.FindStringSubmatch(link)
	require.NotNil(t, m, "Link %q is an RFC 8288 next link with a relative target", link)
	return out, m[1]
}

// TestListsPageWithLinkHeaders walks every list by its Link headers and
// finds exactly the entries of the unpaged answer, in order, once each.
func TestListsPageWithLinkHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	c := servePlane(t, e, true)
	for i := range 5 {
		e.User(t, fmt.Sprintf("pager%d", i), "midaz-viewer-group")
	}
	for _, tc := range []struct{ path, key string }{
		{"/v1/users", "id"},
		{"/v1/users?group=midaz-viewer-group", "id"},
		{"/v1/groups", "name"},
		{"/v1/groups/midaz-viewer-group/members", "id"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			all, next := getList(t, c, tc.path)
			require.Empty(t, next, "without ?limit= the first 1,000 entries come in one answer")
			require.Greater(t, len(all), 4, "enough entries to need three pages of two")

			sep := "?"
			if regexp.MustCompile(`\?`).MatchString(tc.path) {
				sep = "&"
			}
			var walked []any
			pages := 0
			for path := tc.path + sep + "limit=2"; path != ""; pages++ {
				var page []map[string]any
				page, path = getList(t, c, path)
				require.LessOrEqual(t, len(page), 2)
				require.NotEmpty(t, page, "a Link never points at an empty page")
				for _, it := range page {
					walked = append(walked, it[tc.key])
				}
				require.Less(t, pages, 100, "the links end")
			}
			var want []any
			for _, it := range all {
				want = append(want, it[tc.key])
			}
			require.Equal(t, want, walked)
			require.Equal(t, (len(all)+1)/2, pages)
		})
	}

	// A page past the end is an empty array without a Link.
	out, next := getList(t, c, "/v1/groups?page=999&limit=10")
	require.Empty(t, out)
	require.Empty(t, next)
}

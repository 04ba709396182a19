package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// pagedGroups serves n groups two at a time, with the Link header the
// daemon sends; link rewrites that header (nil: the daemon's own).
func pagedGroups(t *testing.T, n int, link func(page int) string) (sock string, calls *[]string) {
	t.Helper()
	var seen []string
	sock = serveAdmin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.RequestURI())
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		var out []api.Group
		for i := (page - 1) * 2; i < min(page*2, n); i++ {
			out = append(out, api.Group{ID: fmt.Sprintf("g%d", i), Name: fmt.Sprintf("g%d", i)})
		}
		if page*2 < n {
			l := fmt.Sprintf(`</v1/groups?limit=2&page=%d>; rel="next"`, page+1)
			if link != nil {
				l = link(page)
			}
			w.Header().Set("Link", l)
		}
		api.WriteJSON(w, http.StatusOK, out)
	}))
	return sock, &seen
}

func TestListFollowsLink(t *testing.T) {
	t.Parallel()
	sock, calls := pagedGroups(t, 5, nil)
	var out bytes.Buffer
	code, stderr := runCtl(t, sock, &out, "-o", "json", "group", "list")
	require.Equal(t, exitOK, code, stderr)
	var gs []api.Group
	require.NoError(t, json.Unmarshal(out.Bytes(), &gs))
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	require.Equal(t, []string{"g0", "g1", "g2", "g3", "g4"}, names, "every page, in order, once")
	require.Equal(t, []string{"/v1/groups", "/v1/groups?limit=2&page=2", "/v1/groups?limit=2&page=3"}, *calls)
}

func TestListRefusesLinksElsewhere(t *testing.T) {
	t.Parallel()
	for name, link := range map[string]string{
		"another host":    `<https://evil.example/v1/groups?page=2>; rel="next"`,
		"scheme-relative": `<//evil.example/v1/groups?page=2>; rel="next"`,
		"another list":    `</v1/users?page=2>; rel="next"`,
		"another route":   `</v1/groups/admin-group/members>; rel="next"`,
	} {
		t.Run(name, func(t *testing.T) {
			sock, calls := pagedGroups(t, 5, func(int) string { return link })
			var out bytes.Buffer
			code, stderr := runCtl(t, sock, &out, "group", "list")
			require.Equal(t, exitError, code)
			require.Contains(t, stderr, "links to")
			require.Empty(t, out.String(), "nothing printed from a list cut short")
			require.Len(t, *calls, 1, "the link was not followed")
		})
	}
}

func TestListStopsAtACircle(t *testing.T) {
	t.Parallel()
	sock, calls := pagedGroups(t, 5, func(int) string { return `</v1/groups?limit=2&page=1>; rel="next"` })
	code, stderr := runCtl(t, sock, &bytes.Buffer{}, "group", "list")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "more than")
	require.Len(t, *calls, maxListPages)
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		hs   []string
		want string
	}{
		{"none", nil, ""},
		{"next", []string{`</v1/users?page=2>; rel="next"`}, "/v1/users?page=2"},
		{"unquoted rel", []string{`</a>; rel=next`}, "/a"},
		{"rel list", []string{`</a>; rel="prev next"`}, "/a"},
		{"case", []string{`</a>; REL="Next"`}, "/a"},
		{"second of two", []string{`</p>; rel="prev", </n>; rel="next"`}, "/n"},
		{"second header", []string{`</p>; rel="prev"`, `</n>; rel="next"`}, "/n"},
		{"comma in a quoted param", []string{`</p>; title="a, b"; rel="prev", </n>; rel="next"`}, "/n"},
		{"other rel only", []string{`</p>; rel="prev"`}, ""},
		{"no brackets", []string{`/n; rel="next"`}, ""},
		{"unclosed", []string{`</n; rel="next"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, nextLink(tc.hs))
		})
	}
}

// FuzzNextLink: the Link header comes from the socket's peer; parsing it
// never panics, and what it returns is a substring of what was sent.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`</v1/users?page=2>; rel="next"`, `</p>; rel="prev", </n>; rel=next`, `<`, `<>;`, `</a>; rel="`, `, ,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := nextLink([]string{h})
		require.Contains(t, h, got, "nextLink(%q) = %q, not from the header", h, got)
		if got != "" {
			_, _ = sameList("/v1/users", got)
		}
	})
}

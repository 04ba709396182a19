package edge

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
)

// Lists are answered as Lerian's Identity API answers them: a bare JSON
// array. Without ?limit= an answer holds the first 1,000 entries;
// ?page= (from 1) and ?limit= (1 to 1,000) select others, and a
// `Link: <…>; rel="next"` header (RFC 8288) says that a later page has
// entries. The link is a relative reference (path and query only), so a
// client resolves it against the address it called and no Host header
// the client sent is ever echoed back.

// pageParams is a list request's page (from 1) and limit.
type pageParams struct{ page, limit int }

// pageOf reads ?page= and ?limit=; a value that is not a number in range
// is Lerian's AUT-0004, naming the parameter and its range.
func pageOf(r *http.Request) (pageParams, error) {
	p := pageParams{page: 1, limit: directory.DefaultLimit}
	q := r.URL.Query()
	for _, f := range []struct {
		name     string
		dst      *int
		min, max int
	}{{"page", &p.page, 1, directory.MaxPage}, {"limit", &p.limit, 1, directory.MaxLimit}} {
		v, ok := q[f.name]
		if !ok {
			continue
		}
		if len(v) != 1 {
			return p, fmt.Errorf("identity: %w: %s is given %d times; give it once", api.ErrInvalidQuery, f.name, len(v))
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < f.min || n > f.max {
			return p, fmt.Errorf("identity: %w: %s must be a whole number from %d to %d", api.ErrInvalidQuery, f.name, f.min, f.max)
		}
		*f.dst = n
	}
	return p, nil
}

// writeList answers items, the requested page of a list, as a JSON
// array (never null), with a Link to the next page when more is true.
func writeList[T any](w http.ResponseWriter, r *http.Request, p pageParams, items []T, more bool) {
	if items == nil {
		items = []T{}
	}
	if more {
		w.Header().Set("Link", nextLink(r, p))
	}
	api.WriteJSON(w, http.StatusOK, items)
}

// nextLink is the RFC 8288 link to the page after p, keeping every other
// query parameter of r (a filter such as ?group=) as it was.
func nextLink(r *http.Request, p pageParams) string {
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(p.page+1))
	q.Set("limit", strconv.Itoa(p.limit))
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return "<" + u.String() + `>; rel="next"`
}

// listed adapts a call that returns a whole list (groups, applications,
// providers, members: lists an operator keeps short) to a paged answer.
func listed[T any](call func(r *http.Request, a change.Actor) ([]T, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a change.Actor) error {
		p, err := pageOf(r)
		if err != nil {
			return err
		}
		all, err := call(r, a)
		if err != nil {
			return err
		}
		from := min((p.page-1)*p.limit, len(all))
		to := min(from+p.limit, len(all))
		writeList(w, r, p, all[from:to], to < len(all))
		return nil
	}
}

// maxPathParam bounds an {id}, {name} or {member} in a path: longer than
// any username, group name, client ID or provider name accessd makes.
const maxPathParam = 256

// checkPathParams refuses a path parameter no record can have (over
// maxPathParam bytes, not UTF-8, or with a control character) as Lerian's
// AUT-0002, before it reaches a store lookup.
func checkPathParams(r *http.Request) error {
	for _, k := range []string{"id", "name", "member"} {
		v := r.PathValue(k)
		if v == "" {
			continue
		}
		if len(v) > maxPathParam || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("identity: %w: %s must be at most %d bytes of printable UTF-8", api.ErrInvalidPath, k, maxPathParam)
		}
	}
	return nil
}

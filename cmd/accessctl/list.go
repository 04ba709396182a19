package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// maxListPages bounds how many pages accessctl follows for one list: at
// the daemon's 1,000 entries a page, far more than any directory it
// serves, and it stops a daemon whose links go round in a circle.
const maxListPages = 10_000

// getAll fetches every page of the list at c.path, following the
// daemon's `Link: <…>; rel="next"` headers (RFC 8288). A link must name
// the same list (same path, only the query changes): accessctl never
// follows one elsewhere.
func getAll[T any](ctx context.Context, cl *client, c call) ([]T, error) {
	all := []T{}
	for pages := 1; ; pages++ {
		var next string
		c.next = &next
		var part []T
		if _, err := cl.do(ctx, c, &part); err != nil {
			return nil, err
		}
		all = append(all, part...)
		if next == "" {
			return all, nil
		}
		if pages == maxListPages {
			return nil, &cliError{code: exitError, msg: fmt.Sprintf("the list at %s has more than %d pages", c.path, maxListPages),
				hint: "accessd and accessctl may be of different versions; compare 'accessctl status' with the installed package"}
		}
		q, err := sameList(c.path, next)
		if err != nil {
			return nil, &cliError{code: exitError, msg: fmt.Sprintf("the answer to GET %s links to %q: %v", c.path, next, err),
				hint: "accessd and accessctl may be of different versions; compare 'accessctl status' with the installed package"}
		}
		c.query = q
	}
}

// sameList checks that target, a Link's URI reference, is a later page
// of the list at path, and returns its query.
func sameList(path, target string) (url.Values, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("not a URI reference")
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("the next page must be on the same daemon")
	}
	if u.EscapedPath() != path {
		return nil, fmt.Errorf("the next page must be of the same list")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query")
	}
	return q, nil
}

// nextLink returns the target of the first link with relation "next" in
// the Link header values hs (RFC 8288 §3: `<target>; rel="next"`, links
// separated by commas, rel a space-separated list, case-insensitive), or
// "" when there is none or the header is malformed.
func nextLink(hs []string) string {
	for _, h := range hs {
		for rest := strings.TrimSpace(h); rest != ""; {
			if rest[0] != '<' {
				return ""
			}
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return ""
			}
			target := rest[1:end]
			rest = rest[end+1:]
			// The parameters run to the next comma outside quotes.
			params, tail := splitLinkParams(rest)
			rest = strings.TrimSpace(strings.TrimPrefix(tail, ","))
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				v = strings.Trim(strings.TrimSpace(v), `"`)
				for _, rel := range strings.Fields(v) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinkParams splits `; a=1; rel="x y", <next>…` into its
// parameters and the text from the comma that ends the link on.
func splitLinkParams(s string) (params []string, tail string) {
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				params = append(params, s[start:i])
				start = i + 1
			}
		case ',':
			if !inQuote {
				return append(params, s[start:i]), s[i:]
			}
		}
	}
	return append(params, s[start:]), ""
}

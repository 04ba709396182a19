package api

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type probe struct {
	Name   string            `json:"name"`
	Groups []string          `json:"groups,omitempty"`
	Limit  int               `json:"limit,omitempty"`
	On     bool              `json:"on,omitempty"`
	Inner  *inner            `json:"inner,omitempty"`
	Items  []inner           `json:"items,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	embedded
}

type inner struct {
	UserName string `json:"username"`
}

type embedded struct {
	ClientID string `json:"clientId,omitempty"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       *Fault
		mentions   string
	}{
		{"ok", `{"name":"a","groups":["x"]}`, nil, ""},
		{"unknown field", `{"name":"a","nmae":"b"}`, ErrUnknownField, `"nmae"`},
		{"wrong type string", `{"name":5}`, ErrInvalidField, `"name" must be a string`},
		{"wrong type array", `{"groups":"x"}`, ErrInvalidField, `"groups" must be an array`},
		{"wrong type number", `{"limit":"ten"}`, ErrInvalidField, `"limit" must be a number`},
		{"wrong type bool", `{"on":1}`, ErrInvalidField, `"on" must be true or false`},
		{"syntax", `{"name":}`, ErrBadRequest, "malformed JSON"},
		{"empty", ``, ErrBadRequest, "empty body"},
		{"truncated", `{"name":"a"`, ErrBadRequest, "truncated"},
		{"trailing data", `{"name":"a"}{"name":"b"}`, ErrBadRequest, "after the JSON object"},
		{"not an object", `["a"]`, ErrInvalidField, "must be"},
		{"nested and embedded fields", `{"name":"a","inner":{"username":"u"},"items":[{"username":"v"}],"labels":{"A":"1","a":"2"},"clientId":"c"}`, nil, ""},
		{"duplicate key", `{"name":"a","name":"b"}`, ErrBadRequest, `"name" appears twice`},
		{"duplicate key, nested", `{"inner":{"username":"a","username":"b"}}`, ErrBadRequest, `"inner.username" appears twice`},
		{"duplicate key in an array's object", `{"items":[{"username":"a"},{"username":"a","username":"b"}]}`, ErrBadRequest, `"items[].username" appears twice`},
		{"duplicate map key", `{"labels":{"a":"1","a":"2"}}`, ErrBadRequest, `"labels.a" appears twice`},
		{"case variant", `{"Name":"a"}`, ErrUnknownField, `"Name" is not a field of this request (field names are case-sensitive: the field is "name")`},
		{"case variant beside the field", `{"name":"a","NAME":"b"}`, ErrUnknownField, `"NAME" is not a field`},
		{"case variant, nested", `{"inner":{"UserName":"u"}}`, ErrUnknownField, `"inner.UserName" is not a field`},
		{"case variant in an array", `{"items":[{"USERNAME":"u"}]}`, ErrUnknownField, `"items[].USERNAME" is not a field`},
		{"case variant, embedded", `{"clientID":"c"}`, ErrUnknownField, `the field is "clientId"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p probe
			err := DecodeJSON(strings.NewReader(tc.body), &p)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want, "got %v, want %v", err, tc.want)
			require.Contains(t, err.Error(), tc.mentions, "%q does not say %q", err, tc.mentions)
		})
	}
}

func TestDecodeJSONTooLarge(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	body := http.MaxBytesReader(w, io.NopCloser(bodyOf(strings.Repeat("x", 100))), 10)
	err := DecodeJSON(body, &probe{})
	require.ErrorIs(t, err, ErrTooLarge, "got %v", err)
	WriteError(w, err)
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code, "got %d %s", w.Code, w.Body)
	require.Contains(t, w.Body.String(), `"AUT-0413"`, "got %d %s", w.Code, w.Body)
}

func TestWriteErrorHidesInternals(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	WriteError(w, errors.New("open /var/lib/accessd/db: secret detail"))
	require.Equal(t, 500, w.Code, "an uncatalogued error leaked: %d %s", w.Code, w.Body)
	require.NotContains(t, w.Body.String(), "secret detail", "an uncatalogued error leaked: %d %s", w.Code, w.Body)
}

func bodyOf(s string) *strings.Reader { return strings.NewReader(`{"name":"` + s + `"}`) }

// FuzzDecodeJSON: every request body of both planes goes through
// DecodeJSON; it must never panic, and what it refuses is catalogued.
// What it accepts holds each top-level key once, spelt exactly as a
// field of the request.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"groups":[1]}`, `{"x":1}`, `{`, `null`, `{"name":"\u0000"}`, `{"limit":1e400}`,
		`{"name":"a","name":"b"}`, `{"Name":"a"}`, `{"inner":{"UserName":"u"}}`, `{"labels":{"a":"1","a":"2"}}`, `{"items":[{"username":"a","username":"b"}]}`} {
		f.Add(s)
	}
	names := map[string]bool{"name": true, "groups": true, "limit": true, "on": true, "inner": true, "items": true, "labels": true, "clientId": true}
	f.Fuzz(func(t *testing.T, body string) {
		var p probe
		err := DecodeJSON(strings.NewReader(body), &p)
		if err != nil {
			require.NotSame(t, ErrInternal, FaultOf(err), "uncatalogued refusal %v", err)
			return
		}
		dec := json.NewDecoder(strings.NewReader(body))
		tok, err := dec.Token()
		require.NoError(t, err)
		if tok == nil {
			return // null
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			require.NoError(t, err)
			key := k.(string)
			require.True(t, names[key], "accepted key %q of %s", key, body)
			require.False(t, seen[key], "accepted key %q twice in %s", key, body)
			seen[key] = true
			var skip json.RawMessage
			require.NoError(t, dec.Decode(&skip))
		}
	})
}

// catalogue is every Fault literal in the package's source, wherever
// it is declared, so a new entry is checked without being listed here.
func catalogue(t *testing.T) []Fault {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var out []Fault
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := cl.Type.(*ast.Ident); !ok || id.Name != "Fault" || len(cl.Elts) != 4 {
				return true
			}
			str := func(e ast.Expr) string {
				lit, ok := e.(*ast.BasicLit)
				require.True(t, ok, "%s: a Fault's code and title are string literals", fset.Position(e.Pos()))
				v, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				return v
			}
			out = append(out, Fault{Code: str(cl.Elts[1]), Title: str(cl.Elts[2])})
			return true
		})
	}
	require.GreaterOrEqual(t, len(out), 20, "found %d Fault literals; the catalogue has more", len(out))
	return out
}

// TestCodesMeanOneThing: no AUT code names two kinds of failure, and a
// code Lerian publishes is used only with Lerian's title (its published
// list, kept with the contract test's schemas).
func TestCodesMeanOneThing(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../cmd/accessd/testdata/lerian/errors.json")
	require.NoError(t, err)
	var lerian struct {
		Codes map[string]string `json:"codes"`
	}
	require.NoError(t, json.Unmarshal(b, &lerian), "errors.json")
	require.NotEmpty(t, lerian.Codes, "errors.json")
	seen := map[string]Fault{}
	for _, f := range catalogue(t) {
		prev, ok := seen[f.Code]
		assert.False(t, ok, "%s means both %q and %q", f.Code, prev.Title, f.Title)
		seen[f.Code] = f
		if title, ok := lerian.Codes[f.Code]; ok {
			assert.Equal(t, title, f.Title, "%s is Lerian's %q, not %q", f.Code, title, f.Title)
		}
	}
	for _, code := range []string{"AUT-0001", "AUT-0002", "AUT-0003", "AUT-0004", "AUT-0006", "AUT-0009"} {
		assert.Contains(t, seen, code, "Lerian's %s (%s) has no entry", code, lerian.Codes[code])
	}
}

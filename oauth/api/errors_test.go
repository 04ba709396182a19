package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type probe struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
	Limit  int      `json:"limit,omitempty"`
	On     bool     `json:"on,omitempty"`
}

func TestDecodeJSON(t *testing.T) {
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p probe
			err := DecodeJSON(strings.NewReader(tc.body), &p)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("%q does not say %q", err, tc.mentions)
			}
		})
	}
}

func TestDecodeJSONTooLarge(t *testing.T) {
	w := httptest.NewRecorder()
	body := http.MaxBytesReader(w, io.NopCloser(bodyOf(strings.Repeat("x", 100))), 10)
	err := DecodeJSON(body, &probe{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	WriteError(w, err)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), `"AUT-0413"`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

func TestWriteErrorHidesInternals(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, errors.New("open /var/lib/accessd/db: secret detail"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret detail") {
		t.Fatalf("an uncatalogued error leaked: %d %s", w.Code, w.Body)
	}
}

func bodyOf(s string) *strings.Reader { return strings.NewReader(`{"name":"` + s + `"}`) }

// FuzzDecodeJSON: every request body of both planes goes through
// DecodeJSON; it must never panic, and what it refuses is catalogued.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"groups":[1]}`, `{"x":1}`, `{`, `null`, `{"name":"\u0000"}`, `{"limit":1e400}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var p probe
		err := DecodeJSON(strings.NewReader(body), &p)
		if err != nil && FaultOf(err) == ErrInternal {
			t.Fatalf("uncatalogued refusal %v", err)
		}
	})
}

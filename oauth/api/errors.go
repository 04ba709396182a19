package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// Fault is one entry of the error catalogue: what a kind of failure looks
// like on the wire, on both faces (Lerian's AUT codes on /v1/*, RFC 6749
// error codes on /oauth/*). Domain packages wrap these as sentinels
// (fmt.Errorf("identity: user %q: %w", id, api.ErrNotFound)); the HTTP
// edge finds the Fault with errors.As and writes it, so status codes live
// here and nowhere deeper.
type Fault struct {
	Status int
	Code   string // AUT-xxxx
	Title  string
	OAuth  string // RFC 6749 §5.2 error code, for /oauth/* routes
}

func (f *Fault) Error() string { return strings.ToLower(f.Title) }

// The catalogue. Lerian's numbers and titles where Lerian has one (from
// Lerian's published Access Manager error list: AUT-0001..0004, 0006,
// 0009, 0013, 0014, 1001, 1005); accessd's own otherwise, in AUT-04xx and
// AUT-1006 onwards, so that no code means two things.
var (
	ErrBadRequest    = &Fault{http.StatusBadRequest, "AUT-0009", "Bad Request", "invalid_request"}
	ErrUnknownField  = &Fault{http.StatusBadRequest, "AUT-0003", "Unexpected Fields in the Request", "invalid_request"}
	ErrInvalidField  = &Fault{http.StatusBadRequest, "AUT-0400", "Invalid Field", "invalid_request"}
	ErrWeakPassword  = &Fault{http.StatusBadRequest, "AUT-0406", "Password Refused", "invalid_request"}
	ErrInvalidGrant  = &Fault{http.StatusBadRequest, "AUT-0013", "Invalid Grant Type", "invalid_request"}
	ErrMissingFields = &Fault{http.StatusBadRequest, "AUT-0014", "Grant Type Missing Fields", "invalid_request"}
	ErrUnsupported   = &Fault{http.StatusBadRequest, "AUT-1001", "Unsupported Grant Type", "unsupported_grant_type"}
	ErrBadRefresh    = &Fault{http.StatusUnauthorized, "AUT-1005", "Invalid Refresh Token", "invalid_grant"}
	ErrBadLogin      = &Fault{http.StatusUnauthorized, "AUT-1006", "Invalid Credentials", "invalid_grant"}
	ErrLocked        = &Fault{http.StatusUnauthorized, "AUT-1007", "Account Locked", "invalid_grant"}
	ErrMustChange    = &Fault{http.StatusForbidden, "AUT-1008", "Password Change Required", "invalid_grant"}
	ErrBadPasscode   = &Fault{http.StatusUnauthorized, "AUT-1009", "Invalid Passcode", "invalid_grant"}
	ErrUnauthorized  = &Fault{http.StatusUnauthorized, "AUT-0401", "Unauthorized", "invalid_token"}
	ErrForbidden     = &Fault{http.StatusForbidden, "AUT-0403", "Forbidden", "insufficient_scope"}
	ErrStepUp        = &Fault{http.StatusForbidden, "AUT-0407", "Recent Second-Factor Sign-In Required", "insufficient_user_authentication"} // RFC 9470
	ErrNotFound      = &Fault{http.StatusNotFound, "AUT-0404", "Not Found", "invalid_request"}
	ErrExists        = &Fault{http.StatusConflict, "AUT-0409", "Already Exists", "invalid_request"}
	ErrConflict      = &Fault{http.StatusConflict, "AUT-0410", "Conflicting Change", "invalid_request"}
	ErrTooLarge      = &Fault{http.StatusRequestEntityTooLarge, "AUT-0413", "Request Too Large", "invalid_request"}
	ErrRateLimited   = &Fault{http.StatusTooManyRequests, "AUT-0429", "Too Many Requests", "temporarily_unavailable"}
	ErrUnavailable   = &Fault{http.StatusServiceUnavailable, "AUT-0503", "Service Unavailable", "temporarily_unavailable"}
	ErrInternal      = &Fault{http.StatusInternalServerError, "AUT-0500", "Internal Error", "server_error"}
)

// Lerian's request-shape faults that have no older accessd equivalent.
var (
	// ErrMissingRequired is a body without a field the call needs
	// (AUT-0014 stays the token grants' own "missing fields").
	ErrMissingRequired = &Fault{http.StatusBadRequest, "AUT-0001", "Missing Fields in Request", "invalid_request"}
	ErrInvalidPath     = &Fault{http.StatusBadRequest, "AUT-0002", "Invalid Path Parameter", "invalid_request"}
	ErrInvalidQuery    = &Fault{http.StatusBadRequest, "AUT-0004", "Invalid Query Parameter", "invalid_request"}
	// ErrTokenMissing is a call without any access token; a token that
	// is sent but refused is ErrUnauthorized.
	ErrTokenMissing = &Fault{http.StatusUnauthorized, "AUT-0006", "Token Missing", "invalid_token"}
)

// FaultOf returns the catalogue entry err wraps, or ErrInternal.
func FaultOf(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	return ErrInternal
}

// WriteJSON writes v with status code; answers are never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err in Lerian's shape, which lib-auth passes through
// to its caller. The message is err's text for catalogued errors (domain
// errors are written to be shown: they name the record and the fix, never
// a secret) and a fixed text for anything uncatalogued, whose detail
// belongs in the log, not in the answer.
func WriteError(w http.ResponseWriter, err error) {
	f := FaultOf(err)
	msg := err.Error()
	if f == ErrInternal {
		msg = "internal error; the daemon's log has the details"
	}
	WriteJSON(w, f.Status, Error{Code: f.Code, Title: f.Title, Message: msg})
}

// DecodeJSON reads one JSON object from body into v, strictly: an unknown
// field, a field name in another case than the field's ("UserName" for
// "username"), a key twice in one object, a wrong type, trailing data or
// a body over the limit (set by the server with http.MaxBytesReader) is
// an error that wraps the catalogue entry and names the field, so the
// client learns what to fix. On error, v may hold part of the body.
func DecodeJSON(body io.Reader, v any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return jsonFault(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFault(err)
	}
	if dec.More() {
		return fmt.Errorf("request body: %w: data after the JSON object", ErrBadRequest)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("request body: %w: data after the JSON object", ErrBadRequest)
	}
	return strictKeys(data, reflect.TypeOf(v))
}

func jsonFault(err error) error {
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return fmt.Errorf("request body: %w: over %d bytes", ErrTooLarge, mbe.Limit)
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = "(body)"
		}
		return fmt.Errorf("request body: %w: field %q must be %s, not %s", ErrInvalidField, field, jsonKind(ute.Type.String()), ute.Value)
	case errors.As(err, &se):
		return fmt.Errorf("request body: %w: malformed JSON at byte %d", ErrBadRequest, se.Offset)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("request body: %w: empty body, a JSON object was expected", ErrBadRequest)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("request body: %w: truncated JSON", ErrBadRequest)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one; the field name
		// is the quoted tail of its message.
		return fmt.Errorf("request body: %w: %s is not a field of this request", ErrUnknownField, strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("request body: %w: %v", ErrBadRequest, err)
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	switch {
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"), strings.HasPrefix(goType, "*[]"):
		return "an array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "map"):
		return "an object"
	}
	return "an object"
}

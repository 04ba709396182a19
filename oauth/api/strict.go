package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// encoding/json matches an object key to a field ignoring case and keeps
// the last of two equal keys, so `{"username":"a","UserName":"b"}` is a
// different request to accessd than to a proxy, a WAF or a log that
// reads the first key or matches case exactly. strictKeys closes that
// gap: in the valid JSON DecodeJSON has just decoded, no object may hold
// a key twice, and a key of an object decoded into a struct must be the
// field's name exactly as written.

// strictKeys walks data (valid JSON) against the type it was decoded into.
func strictKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkValue(dec, t, "")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// shape is what a JSON value is decoded into, as far as its keys go.
// A nil type (an interface, a RawMessage, a type with its own decoder)
// checks duplicates only.
func shape(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

func walkValue(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("request body: %w: malformed JSON", ErrBadRequest)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	t = shape(t)
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkValue(dec, elem, path+"[]"); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields = fieldsOf(t)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("request body: %w: malformed JSON", ErrBadRequest)
			}
			key, _ := kt.(string)
			name := key
			if path != "" {
				name = path + "." + key
			}
			if seen[key] {
				return fmt.Errorf("request body: %w: field %q appears twice; send each field once", ErrBadRequest, name)
			}
			seen[key] = true
			vt := elem
			if fields != nil {
				ft, exact := fields[key]
				if !exact {
					return fmt.Errorf("request body: %w: %q is not a field of this request%s", ErrUnknownField, name, didYouMean(fields, key))
				}
				vt = ft
			}
			if err := walkValue(dec, vt, name); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	if err != nil {
		return fmt.Errorf("request body: %w: malformed JSON", ErrBadRequest)
	}
	return nil
}

// didYouMean names the field key spells in another case, if any.
func didYouMean(fields map[string]reflect.Type, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(" (field names are case-sensitive: the field is %q)", name)
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf maps the JSON names of struct type t's fields, including
// those promoted from embedded structs, to their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	addFields(m, t, 0)
	fieldCache.Store(t, m)
	return m
}

func addFields(m map[string]reflect.Type, t reflect.Type, depth int) {
	if depth > 16 {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(m, ft, depth+1)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := m[name]; !dup || depth == 0 {
			m[name] = f.Type
		}
	}
}

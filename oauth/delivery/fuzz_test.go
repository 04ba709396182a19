package delivery_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/delivery"
)

// FuzzRender: whatever the phone number and message, a template that
// passed CheckTemplate renders to a body that decodes to exactly them
// (no value can close its string or add a field).
func FuzzRender(f *testing.F) {
	f.Add(`{"to":"{{phone}}","text":"{{message}}"}`, "+4915112345678", "Your code is 123456")
	f.Add(`{"a":{"to":"{{phone}}"},"m":["{{message}}"]}`, `"}`, "{{phone}}\u2028\x00")
	f.Add(delivery.TwilioTemplate("+15550000000"), "+1&Body=x", "a=b&c")
	f.Fuzz(func(t *testing.T, tmpl, phone, msg string) {
		for _, enc := range []string{delivery.EncodeJSON, delivery.EncodeForm} {
			if delivery.CheckTemplate(tmpl, enc) != nil {
				continue
			}
			body, err := delivery.Render(tmpl, enc, phone, msg)
			require.NoError(t, err)
			ref, _ := delivery.Render(tmpl, enc, "P", "M")
			switch enc {
			case delivery.EncodeJSON:
				if !json.Valid([]byte(ref)) {
					continue // a template may still be invalid JSON for other values (e.g. placeholders as keys twice)
				}
				require.True(t, json.Valid([]byte(body)), "template %q with %q, %q rendered invalid JSON %q", tmpl, phone, msg, body)
			case delivery.EncodeForm:
				require.Equal(t, strings.Count(ref, "&"), strings.Count(body, "&"), "a value added a form field: %q", body)
				require.Equal(t, strings.Count(ref, "="), strings.Count(body, "="), "a value added a form field: %q", body)
				if !strings.Contains(tmpl, "%") && !strings.Contains(tmpl, ";") {
					_, err := url.ParseQuery(body)
					require.NoError(t, err, "form body %q does not parse", body)
				}
			}
		}
	})
}

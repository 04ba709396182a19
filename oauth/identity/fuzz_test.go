package identity_test

import (
	"context"
	"encoding/json"
	"github.com/accessd/accessd/oauth/credential"
	"strings"
	"testing"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
	"github.com/accessd/accessd/store"
)

// FuzzProviderRequest runs provider bodies, as a client sends them,
// through the strict decoder and CreateProvider over a real store:
// nothing panics, and whatever is stored shows no secret.
func FuzzProviderRequest(f *testing.F) {
	f.Add(`{"name":"relay","category":"Email","host":"mail.example","from":"a@example.com","clientSecret":"s3cret-XYZ"}`)
	f.Add(`{"name":"sms","category":"SMS","type":"twilio","clientId":"AC1","from":"+15550000000","clientSecret":"s3cret-XYZ"}`)
	f.Add(`{"name":"gw","category":"SMS","url":"https://gw.example/send","template":"{\"to\":\"{{phone}}\",\"m\":\"{{message}}\"}","authHeader":"X-Key","clientSecret":"s3cret-XYZ"}`)
	f.Add(`{"name":"x","category":"Email","caPem":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}`)
	e := newEnv(f, identity.Config{})
	f.Fuzz(func(t *testing.T, body string) {
		var req api.CreateProviderRequest
		if api.DecodeJSON(strings.NewReader(body), &req) != nil {
			return
		}
		p, err := e.svc.Providers().CreateProvider(context.Background(), admin, req)
		if err != nil {
			return
		}
		defer e.svc.Providers().DeleteProvider(context.Background(), admin, p.Name)
		got, err := e.svc.Providers().GetProvider(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(got)
		if req.ClientSecret != "" && !got.ClientSecretSet || strings.Contains(string(out), `"clientSecret"`) {
			t.Fatalf("provider view %s for secret %q", out, req.ClientSecret)
		}
	})
}

// FuzzPhoneNumber: an accepted number is "+" and 2 to 15 digits.
func FuzzPhoneNumber(f *testing.F) {
	for _, s := range []string{"+4915112345678", "+0", "+49 151", "+١٢٣", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if credential.CheckPhoneNumber(s) != nil || s == "" {
			return
		}
		if s[0] != '+' || len(s) < 3 || len(s) > 16 || strings.Trim(s[1:], "0123456789") != "" || s[1] == '0' {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzSignInName: a sign-in name resolves to an account only through
// its canonical username or its folded address, never by accident, and
// no name panics.
func FuzzSignInName(f *testing.F) {
	for _, s := range []string{"maria", "MARIA", "Maria.Silva@Example.com", "maria.silva@example.com.", "@", "", "ｍａｒｉａ", "maria\x00", "K@example.com", strings.Repeat("a@", 200)} {
		f.Add(s)
	}
	e := newEnv(f, identity.Config{})
	_, err := e.svc.CreateUser(context.Background(), admin, api.CreateUserRequest{Username: "maria", Email: "Maria.Silva@Example.com"})
	if err != nil {
		f.Fatal(err)
	}
	mine := e.svc.AttemptKey("maria")
	f.Fuzz(func(t *testing.T, name string) {
		if e.svc.AttemptKey(name) != mine {
			return
		}
		c, err := credential.CanonicalUsername(name)
		if err == nil && c == "maria" || store.FoldEmail(name) == "maria.silva@example.com" {
			return
		}
		t.Fatalf("%q resolved to maria", name)
	})
}

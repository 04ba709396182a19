package directory_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
)

// fuzzSecret is a client secret planted in the seeds: no error may echo it.
const fuzzSecret = "PLANTEDsecretPLANTEDsecretPLANTED-42"

// FuzzParseLerianExport runs import files through the parser: nothing
// panics; an accepted file is normalised (canonical usernames, sorted
// group lists without duplicates, no record twice); and no error repeats
// the planted client secret.
func FuzzParseLerianExport(f *testing.F) {
	seed, err := os.ReadFile("testdata/lerian-export.json")
	require.NoError(f, err)
	f.Add(string(seed))
	f.Add(strings.ReplaceAll(string(seed), "019c96a0-6a20-7bcd-e1f2-9d0e1f2a3b4c", fuzzSecret))
	f.Add(`{"applications":[{"id":"019c96a1-0000-7000-8000-00000000000b","clientId":"c","clientSecret":"` + fuzzSecret + `","name":"n","description":"","createdAt":"x"}]}`)
	f.Add(`{"users":{"items":[],"page":1,"limit":10,"total":0}}`)
	f.Add(`{"users":[{"id":"019c96a1-0000-7000-8000-00000000000a","username":"ÅNA","email":"a@example.com","groups":["b","a","b"]}]}`)
	f.Add(`{"groups":[{"id":"g","name":"G","createdAt":"2025-04-08T08:01:30.169Z","users":["Bob","bob"]}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		e, err := directory.ParseLerianExport([]byte(body))
		if err != nil {
			if strings.Contains(body, fuzzSecret) {
				require.NotContains(t, err.Error(), fuzzSecret, "error repeats the secret")
			}
			return
		}
		require.NotZero(t, len(e.Users)+len(e.Groups)+len(e.Applications), "accepted an empty export")
		seen := map[string]bool{}
		once := func(k string) {
			require.False(t, seen[k], "%s twice", k)
			seen[k] = true
		}
		sorted := func(gs []string) {
			require.True(t, slices.IsSorted(gs) && len(slices.Compact(slices.Clone(gs))) == len(gs), "group list %q not sorted and unique", gs)
		}
		for _, u := range e.Users {
			c, err := credential.CanonicalUsername(u.Username)
			require.True(t, err == nil && c == u.Username, "username %q not canonical", u.Username)
			if u.PasswordHash != "" {
				require.NoError(t, credential.CheckBcryptHash(u.PasswordHash), "accepted a password hash accessd cannot verify")
			}
			sorted(u.Groups)
			once("id " + u.ID)
			once("user " + u.Username)
		}
		for _, g := range e.Groups {
			sorted(g.Users)
			once("group " + g.ID)
		}
		for _, a := range e.Applications {
			sorted(a.Groups)
			once("id " + a.ID)
			once("client " + a.ClientID)
			require.NotContains(t, fmt.Sprintf("%v %+v %#v", a, a, a), fuzzSecret, "a parsed application prints its secret")
		}
	})
}

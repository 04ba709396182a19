package login_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// TestUnknownUserSignInsSummarised: 200 failed sign-ins of an unknown
// username from one source are 5 wrong-password answers and then 429s
// (the source is throttled, as for a known account); each kind writes 3
// entries in full and one summary a minute, with the attempted name in
// its (sealed) detail; another source has a budget of its own.
func TestUnknownUserSignInsSummarised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	rep := change.NewRepeats(e.Audit, nil, e.Clock.Now)
	signIn, _ := login.New(e.Store, e.Service.SignInDirectory(), login.Options{Audit: e.Audit, Now: e.Clock.Now,
		Providers: e.Service.Providers(), Refusals: rep})
	ctx := context.Background()
	from := func(src string) change.Actor { return change.Actor{Name: "client:console", Source: src} }
	wrong, throttled := 0, 0
	for range 200 {
		_, err := signIn.Login(ctx, from("198.51.100.7"), "mallory-guess", []byte("wrong-password-123"))
		switch {
		case errors.Is(err, api.ErrBadLogin):
			wrong++
		case errors.Is(err, login.ErrThrottled):
			throttled++
		default:
			require.Fail(t, "unexpected answer", "%v", err)
		}
	}
	require.Equal(t, 5, wrong, "lockout_attempts wrong-password answers, then the source is throttled")
	require.Equal(t, 195, throttled)
	_, err := signIn.Login(ctx, from("203.0.113.5"), "mallory-guess", []byte("wrong-password-123"))
	require.ErrorIs(t, err, api.ErrBadLogin)
	logins := func() []store.AuditEntry {
		require.NoError(t, e.Audit.Sync())
		var out []store.AuditEntry
		require.NoError(t, audit.Scan(e.Store, 1, func(en store.AuditEntry) (bool, error) {
			if en.Type == "user.login" {
				out = append(out, en)
			}
			return true, nil
		}))
		return out
	}
	full := logins()
	require.Len(t, full, 7, "3 failed and 3 throttled from the flooding source, 1 failed from the other")
	results := map[string]int{}
	for _, en := range full {
		require.Equal(t, "unknown-user", en.Target)
		require.Equal(t, "mallory-guess", en.Detail["username"], "auditors see the attempted name")
		results[en.Result]++
	}
	require.Equal(t, map[string]int{"failed": 4, "throttled": 3}, results)
	rep.Close()
	all := logins()
	require.Len(t, all, 9, "one summary per kind at the stop")
	counts := map[string]string{}
	for _, s := range all[7:] {
		require.Equal(t, "summary", s.Source)
		require.Equal(t, "mallory-guess", s.Detail["username"])
		require.Equal(t, "198.51.100.7", s.Detail["sources"])
		require.Equal(t, "unknown-user", s.Target, "the journal's copy (type, actor, target, result, source) names no username")
		counts[s.Result] = s.Detail["count"]
	}
	require.Equal(t, map[string]string{"failed": "2", "throttled": "192"}, counts)
}

package login_test

import (
	"context"
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
// username from one source write 3 entries in full and one summary a
// minute, each with the attempted name in its (sealed) detail; another
// source has a budget of its own.
func TestUnknownUserSignInsSummarised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	rep := change.NewRepeats(e.Audit, nil, e.Clock.Now)
	signIn, _ := login.New(e.Store, e.Service.SignInDirectory(), login.Options{Audit: e.Audit, Now: e.Clock.Now,
		Providers: e.Service.Providers(), Refusals: rep})
	ctx := context.Background()
	from := func(src string) change.Actor { return change.Actor{Name: "client:console", Source: src} }
	for range 200 {
		_, err := signIn.Login(ctx, from("198.51.100.7"), "mallory-guess", []byte("wrong-password-123"))
		require.ErrorIs(t, err, api.ErrBadLogin)
	}
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
	require.Equal(t, 4, len(full), "3 from the flooding source, 1 from the other")
	for _, en := range full {
		require.Equal(t, "unknown-user", en.Target)
		require.Equal(t, "failed", en.Result)
		require.Equal(t, "mallory-guess", en.Detail["username"], "auditors see the attempted name")
	}
	rep.Close()
	all := logins()
	require.Equal(t, 5, len(all))
	s := all[4]
	require.Equal(t, "summary", s.Source)
	require.Equal(t, "197", s.Detail["count"])
	require.Equal(t, "mallory-guess", s.Detail["username"])
	require.Equal(t, "198.51.100.7", s.Detail["sources"])
	require.Equal(t, "unknown-user", s.Target, "the journal's copy (type, actor, target, result, source) names no username")
}

package login_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/login"
)

// TestStepUpForCredentialOps: on the data plane, minting an application
// secret and changing second factors need a session whose sign-in passed
// a second factor that was on before it, within credential_ops_max_age;
// each refusal names what is missing. The admin plane needs none of it.
func TestStepUpForCredentialOps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{CredentialOpsMaxAge: directory.Duration{Duration: 10 * time.Minute}})
	ctx := context.Background()
	u := e.User(t, "ines")
	e.Clock.Add(time.Minute)
	directorytest.EnrolTOTP(t, e.Enrolment, e.Clock.Now(), u.ID)
	enrolled := e.Clock.Now()
	e.Clock.Add(20 * time.Minute)
	bearer := func(s *change.Session) change.Actor {
		return change.Actor{Name: "user:" + u.ID, Source: "192.0.2.7", SubjectID: u.ID, Session: s}
	}
	mfa := []string{login.AMRPassword, login.AMROTP}
	for _, tc := range []struct {
		name  string
		actor change.Actor
		want  string // "" = allowed; else a phrase the refusal must carry
	}{
		{"admin socket", admin, ""},
		{"second factor, just now", bearer(&change.Session{AuthTime: e.Clock.Now(), AMR: mfa}), ""},
		{"second factor, at the max age", bearer(&change.Session{AuthTime: e.Clock.Now().Add(-10 * time.Minute), AMR: mfa}), ""},
		{"second factor, past the max age", bearer(&change.Session{AuthTime: e.Clock.Now().Add(-10*time.Minute - time.Second), AMR: mfa}), "at most 10m0s old"},
		{"password only", bearer(&change.Session{AuthTime: e.Clock.Now(), AMR: []string{login.AMRPassword}}), "passed a second factor"},
		{"signed in before the factor was enrolled", bearer(&change.Session{AuthTime: enrolled.Add(-time.Second), AMR: mfa}), "changed after you signed in"},
		{"no session", bearer(nil), "sign in again"},
		{"application token", change.Actor{Name: "app:abc", SubjectID: "app-id", ClientID: "abc"}, "application token never qualifies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.Service.Applications().CreateApplication(ctx, tc.actor, api.CreateApplicationRequest{Name: "svc-" + strings.ReplaceAll(tc.name, " ", "-")})
			_, perr := e.Enrolment.MFAPreferred(ctx, tc.actor, u.ID, api.MFATypeApp)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotEmpty(t, out.ClientSecret, "the secret is shown once, on creation")
				require.NoError(t, perr)
				return
			}
			for _, err := range []error{err, perr} {
				require.ErrorIs(t, err, api.ErrStepUp)
				require.Contains(t, err.Error(), tc.want)
				require.Equal(t, 403, api.FaultOf(err).Status)
			}
			require.Empty(t, out.ClientSecret)
		})
	}
	denied, err := e.Review.AuditList(time.Time{}, "stepup.denied", 0)
	require.NoError(t, err)
	require.Len(t, denied, 10, "each refusal is audited (five cases, two operations each)")
}

// TestStepUpGuardsMFAChanges: a password-only session may enrol a first
// factor, but not disable one, enrol another or change the preferred one.
func TestStepUpGuardsMFAChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	u := e.User(t, "jon")
	weak := change.Actor{Name: "user:" + u.ID, SubjectID: u.ID, Session: &change.Session{AuthTime: e.Clock.Now(), AMR: []string{login.AMRPassword}}}
	_, err := e.Enrolment.MFASetup(ctx, weak, u.ID, api.MFATypeApp)
	require.NoError(t, err, "the first factor needs no step-up: there is nothing to step up with")
	e.Clock.Add(time.Second)
	directorytest.EnrolTOTP(t, e.Enrolment, e.Clock.Now(), u.ID)
	_, err = e.Enrolment.MFADisable(ctx, weak, u.ID)
	require.ErrorIs(t, err, api.ErrStepUp)
	_, err = e.Enrolment.MFASetup(ctx, weak, u.ID, api.MFATypeEmail)
	require.ErrorIs(t, err, api.ErrStepUp)
	_, err = e.Enrolment.MFAEnable(ctx, weak, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeEmail, Passcode: "123456"})
	require.ErrorIs(t, err, api.ErrStepUp)
	st, err := e.Enrolment.MFAStatus(u.ID)
	require.NoError(t, err)
	require.True(t, st.TOTPEnabled, "the refused disable left TOTP on")

	e.Clock.Add(time.Second)
	strong := change.Actor{Name: "user:" + u.ID, SubjectID: u.ID, Session: &change.Session{AuthTime: e.Clock.Now(), AMR: []string{login.AMRPassword, login.AMROTP}}}
	st, err = e.Enrolment.MFADisable(ctx, strong, u.ID)
	require.NoError(t, err)
	require.False(t, st.Enabled)
}

package login_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/login"
)

// deliveredEnv is an environment with an e-mail relay and an SMS gateway
// configured as providers; next reads the code of the next message or
// text and checks where it went.
type deliveredEnv struct {
	*env
	relay *deliverytest.Relay
	gw    *deliverytest.Gateway
}

func newDeliveredEnv(t *testing.T) deliveredEnv {
	e := newEnv(t, directory.Config{LockoutAttempts: 50})
	ctx := context.Background()
	ca := deliverytest.NewCA(t)
	relay := deliverytest.NewRelay(t, deliverytest.RelayOptions{CA: ca})
	_, err := e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "relay", Category: api.ProviderEmail,
		Host: relay.Host, Port: relay.Port, From: "accessd@example.test", CAPEM: ca.PEM})
	require.NoError(t, err)
	gw := deliverytest.NewGateway(t, ca, 0)
	_, err = e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "sms", Category: api.ProviderSMS,
		URL: gw.URL, Template: `{"to":"{{phone}}","text":"{{message}}"}`, CAPEM: ca.PEM})
	require.NoError(t, err)
	return deliveredEnv{env: e, relay: relay, gw: gw}
}

func (d deliveredEnv) mailCode(t *testing.T, to string) string {
	t.Helper()
	m := d.relay.Next(t)
	require.Equal(t, []string{to}, m.To, "the code went to the wrong address")
	c := sentCode.FindStringSubmatch(m.Data)
	require.NotNil(t, c, m.Data)
	return c[1]
}

func (d deliveredEnv) smsCode(t *testing.T, to string) string {
	t.Helper()
	r := d.gw.Next(t)
	require.Contains(t, r.Body, `"to":"`+to+`"`, "the code went to the wrong number")
	c := sentCode.FindStringSubmatch(r.Body)
	require.NotNil(t, c, r.Body)
	return c[1]
}

// enrolEmail turns the e-mail factor on for a user through the admin
// plane, with the code sent to to.
func (d deliveredEnv) enrolEmail(t *testing.T, userID, to string) {
	t.Helper()
	ctx := context.Background()
	_, err := d.Enrolment.MFASetup(ctx, admin, userID, api.MFATypeEmail)
	require.NoError(t, err)
	_, err = d.Enrolment.MFAEnable(ctx, admin, userID, api.MFAEnableRequest{MFAType: api.MFATypeEmail, Passcode: d.mailCode(t, to)})
	require.NoError(t, err)
}

func (d deliveredEnv) enrolSMS(t *testing.T, userID, to string) {
	t.Helper()
	ctx := context.Background()
	_, err := d.Enrolment.MFASetup(ctx, admin, userID, api.MFATypeSMS)
	require.NoError(t, err)
	_, err = d.Enrolment.MFAEnable(ctx, admin, userID, api.MFAEnableRequest{MFAType: api.MFATypeSMS, Passcode: d.smsCode(t, to)})
	require.NoError(t, err)
}

func userActor(id string, s *change.Session) change.Actor {
	return change.Actor{Name: "user:" + id, Source: "203.0.113.9", SubjectID: id, Session: s}
}

const thiefPassword = "correct-Horse-battery-77-staple"

// TestStepUpGuardsFactorAddress is the takeover chain of a stolen access
// token: move the enabled e-mail factor to the thief's address, set the
// password, sign in by the new address and receive the code. On the data
// plane, moving one's own factor needs a step-up and resetting one's own
// password too; moving another user's factor is the admin socket's alone.
// Every refusal leaves the address, the factor and the password as they
// were.
func TestStepUpGuardsFactorAddress(t *testing.T) {
	t.Parallel()
	d := newDeliveredEnv(t)
	ctx := context.Background()
	v, err := d.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "vera", Email: "vera@example.com",
		PhoneNumber: "+4915100000001", Groups: []string{"identity-editor-group"}})
	require.NoError(t, err)
	d.enrolEmail(t, v.ID, "vera@example.com")
	d.enrolSMS(t, v.ID, "+4915100000001")
	d.Clock.Add(time.Minute)
	m := d.User(t, "mallory", "identity-editor-group") // holds what vera holds: mayActOn lets it act on her

	evil, evilPhone := "thief@evil.example", "+4915199999999"
	now := d.Clock.Now()
	weak := &change.Session{AuthTime: now, AMR: []string{login.AMRPassword}}
	mallorysStrong := &change.Session{AuthTime: now, AMR: []string{login.AMRPassword, login.AMROTP}}
	for _, tc := range []struct {
		name  string
		actor change.Actor
		req   api.UpdateUserRequest
		want  error
		says  string
	}{
		{"own e-mail, stolen token without a session", userActor(v.ID, nil), api.UpdateUserRequest{Email: &evil}, api.ErrStepUp, "change the address your sign-in codes go to"},
		{"own e-mail, password-only session", userActor(v.ID, weak), api.UpdateUserRequest{Email: &evil}, api.ErrStepUp, "passed a second factor"},
		{"own phone number, stolen token", userActor(v.ID, nil), api.UpdateUserRequest{PhoneNumber: &evilPhone}, api.ErrStepUp, "change the address your sign-in codes go to"},
		{"another user's e-mail", userActor(m.ID, nil), api.UpdateUserRequest{Email: &evil}, api.ErrForbidden, "accessctl user update"},
		{"another user's e-mail, even with a step-up", userActor(m.ID, mallorysStrong), api.UpdateUserRequest{Email: &evil}, api.ErrForbidden, "accessctl user update"},
		{"another user's phone number", userActor(m.ID, nil), api.UpdateUserRequest{PhoneNumber: &evilPhone}, api.ErrForbidden, "only the admin socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Service.Users().UpdateUser(ctx, tc.actor, v.ID, tc.req)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.says)
			got, err := d.Service.Users().GetUser(v.ID)
			require.NoError(t, err)
			require.Equal(t, "vera@example.com", got.Email)
			require.Equal(t, "+4915100000001", got.PhoneNumber)
			st, err := d.Enrolment.MFAStatus(v.ID)
			require.NoError(t, err)
			require.True(t, st.EmailEnabled && st.SMSEnabled, "a refused update leaves the factors on")
		})
	}

	// A change that moves no factor still passes without a step-up.
	first := "Vera"
	same := "vera@example.com"
	_, err = d.Service.Users().UpdateUser(ctx, userActor(v.ID, nil), v.ID, api.UpdateUserRequest{FirstName: &first, Email: &same})
	require.NoError(t, err, "re-sending the same address moves nothing")

	// Resetting one's own password needs a step-up; another user's
	// (within the caller's permissions) does not.
	for _, s := range []*change.Session{nil, weak} {
		_, err = d.Service.Users().ResetPassword(ctx, userActor(v.ID, s), v.ID, []byte(thiefPassword))
		require.ErrorIs(t, err, api.ErrStepUp)
		require.Contains(t, err.Error(), "update-password")
	}
	_, err = d.SignIn.SignIn(ctx, admin, "vera", []byte(thiefPassword))
	require.ErrorIs(t, err, api.ErrBadLogin, "the refused reset left the password alone")
	_, err = d.Service.Users().ResetPassword(ctx, userActor(m.ID, nil), v.ID, []byte(thiefPassword))
	require.NoError(t, err, "a helpdesk reset of another user is unchanged")

	// Even with the password, the codes still go to vera, not to the thief.
	si, err := d.SignIn.SignIn(ctx, admin, "vera", []byte(thiefPassword))
	require.NoError(t, err)
	require.True(t, si.SecondFactorDue)
	require.NoError(t, d.SignIn.SendLoginCode(ctx, admin, v.ID, api.MFATypeEmail))
	d.mailCode(t, "vera@example.com")
	require.NoError(t, d.SignIn.SendLoginCode(ctx, admin, v.ID, api.MFATypeSMS))
	d.smsCode(t, "+4915100000001")

	denied, err := d.Review.AuditList(time.Time{}, "user.update", 0)
	require.NoError(t, err)
	n := 0
	for _, e := range denied {
		if e.Result == "denied" {
			n++
		}
	}
	require.Equal(t, 3, n, "each refusal to move another user's factor is audited")
}

// TestStepUpAllowsOwnFactorAddress: with a step-up session a user moves
// their own e-mail and phone number; the moved factors are off until
// enrolled again at the new address, nothing is delivered to the new
// address before that, and the session that did it no longer passes a
// step-up (its factors changed after its sign-in).
func TestStepUpAllowsOwnFactorAddress(t *testing.T) {
	t.Parallel()
	d := newDeliveredEnv(t)
	ctx := context.Background()
	v, err := d.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "vera", Email: "vera@example.com", PhoneNumber: "+4915100000001"})
	require.NoError(t, err)
	d.Clock.Add(time.Minute)
	directorytest.EnrolTOTP(t, d.Enrolment, d.Clock.Now(), v.ID)
	d.enrolEmail(t, v.ID, "vera@example.com")
	d.enrolSMS(t, v.ID, "+4915100000001")
	_, err = d.Enrolment.MFAPreferred(ctx, admin, v.ID, api.MFATypeEmail)
	require.NoError(t, err)
	d.Clock.Add(time.Minute)
	strong := userActor(v.ID, &change.Session{AuthTime: d.Clock.Now(), AMR: []string{login.AMRPassword, login.AMROTP}})

	_, err = d.Service.Users().ResetPassword(ctx, strong, v.ID, []byte(thiefPassword))
	require.NoError(t, err, "a step-up session may reset its own password")

	d.Clock.Add(time.Second)
	newMail, newPhone := "vera@new.example", "+4915100000002"
	got, err := d.Service.Users().UpdateUser(ctx, strong, v.ID, api.UpdateUserRequest{Email: &newMail, PhoneNumber: &newPhone})
	require.NoError(t, err)
	require.Equal(t, newMail, got.Email)
	st, err := d.Enrolment.MFAStatus(v.ID)
	require.NoError(t, err)
	require.Equal(t, api.MFAStatus{Enabled: true, TOTPEnabled: true, PreferredType: api.MFATypeApp, Methods: []string{api.MFATypeApp}}, st,
		"the moved factors are off; TOTP, which moved nowhere, stays")
	c, err := d.Store.Credentials().Get(v.ID)
	require.NoError(t, err)
	require.False(t, c.EmailVerified || c.SMSVerified, "the new address and number are not proven")
	require.Equal(t, d.Clock.Now().UTC(), c.FactorsChangedAt.UTC())
	off, err := d.Review.AuditList(time.Time{}, "mfa.disable", 0)
	require.NoError(t, err)
	require.Len(t, off, 1)
	require.Equal(t, "email,sms", off[0].Detail["mfaType"])
	require.Equal(t, "user:"+v.ID, off[0].Actor)

	// Nothing goes to the new address or number until it is enrolled.
	mails, texts := len(d.relay.Mails()), d.gw.Count()
	for _, typ := range []string{api.MFATypeEmail, api.MFATypeSMS} {
		require.ErrorIs(t, d.SignIn.SendLoginCode(ctx, admin, v.ID, typ), api.ErrInvalidField)
		require.ErrorIs(t, d.SignIn.VerifySecondFactor(ctx, admin, v.ID, typ, "123456", ""), api.ErrBadPasscode)
	}
	require.Equal(t, []int{mails, texts}, []int{len(d.relay.Mails()), d.gw.Count()}, "no code was sent anywhere")

	// The session's factors changed after its sign-in: no more step-ups.
	_, err = d.Service.Users().ResetPassword(ctx, strong, v.ID, []byte(thiefPassword+"x"))
	require.ErrorIs(t, err, api.ErrStepUp)
	require.Contains(t, err.Error(), "changed after you signed in")

	// Enrolled again at the new address, the factor delivers there.
	d.enrolEmail(t, v.ID, newMail)
	require.NoError(t, d.SignIn.SendLoginCode(ctx, admin, v.ID, api.MFATypeEmail))
	require.NoError(t, d.SignIn.VerifySecondFactor(ctx, admin, v.ID, api.MFATypeEmail, d.mailCode(t, newMail), ""))
}

// TestAdminMovesFactorAddress: the admin socket moves any user's address
// without a step-up, and the moved factor is turned off just the same; a
// factor still being enrolled loses its proof; a user without a factor
// changes their own address freely.
func TestAdminMovesFactorAddress(t *testing.T) {
	t.Parallel()
	d := newDeliveredEnv(t)
	ctx := context.Background()
	v := d.User(t, "vera")
	d.enrolEmail(t, v.ID, "vera@example.com")
	d.Clock.Add(time.Minute)
	newMail := "vera@new.example"
	got, err := d.Service.Users().UpdateUser(ctx, admin, v.ID, api.UpdateUserRequest{Email: &newMail})
	require.NoError(t, err)
	require.False(t, got.MFA, "the only factor moved: the user has none until it is enrolled again")
	off, err := d.Review.AuditList(time.Time{}, "mfa.disable", 0)
	require.NoError(t, err)
	require.Len(t, off, 1)
	require.Equal(t, admin.Name, off[0].Actor)
	require.ErrorIs(t, d.SignIn.SendLoginCode(ctx, admin, v.ID, api.MFATypeEmail), api.ErrInvalidField)

	// Verified at the old address but not yet on: the proof is lost
	// with the address, so enabling now fails.
	w := d.User(t, "walt")
	_, err = d.Enrolment.MFASetup(ctx, admin, w.ID, api.MFATypeEmail)
	require.NoError(t, err)
	_, err = d.Enrolment.MFAVerify(ctx, admin, w.ID, api.MFAVerifyRequest{MFAType: api.MFATypeEmail, Passcode: d.mailCode(t, "walt@example.com")})
	require.NoError(t, err)
	other := "walt@other.example"
	_, err = d.Service.Users().UpdateUser(ctx, userActor(w.ID, nil), w.ID, api.UpdateUserRequest{Email: &other})
	require.NoError(t, err, "no factor is on, so no step-up is needed")
	_, err = d.Enrolment.MFAEnable(ctx, userActor(w.ID, nil), w.ID, api.MFAEnableRequest{MFAType: api.MFATypeEmail})
	require.ErrorIs(t, err, api.ErrBadPasscode)
	require.True(t, strings.Contains(err.Error(), "verify the code"), err.Error())
}

// TestFactorAddressOverHTTP: the takeover chain over the real routes, as
// a bearer without a session (a stolen access token) would send it, and
// the admin socket's update that turns the factor off.
func TestFactorAddressOverHTTP(t *testing.T) {
	t.Parallel()
	d := newDeliveredEnv(t)
	data, adminPlane := routes(d.env, false), routes(d.env, true)
	v := d.User(t, "vera", "identity-editor-group")
	m := d.User(t, "mallory", "identity-editor-group")
	d.enrolEmail(t, v.ID, "vera@example.com")
	for _, tc := range []struct {
		name, as, method, path, body string
		code                         int
		aut, says                    string
	}{
		{"own e-mail", v.ID, "PATCH", "/v1/users/" + v.ID, `{"email":"thief@evil.example"}`, 403, "AUT-0407", "change the address your sign-in codes go to"},
		{"own password", v.ID, "PATCH", "/v1/users/" + v.ID + "/reset-password", `{"newPassword":"` + thiefPassword + `"}`, 403, "AUT-0407", "update-password"},
		{"another user's e-mail", m.ID, "PATCH", "/v1/users/" + v.ID, `{"email":"thief@evil.example"}`, 403, "AUT-0403", "accessctl user update"},
		{"own name, no factor moved", v.ID, "PATCH", "/v1/users/" + v.ID, `{"firstName":"Vera"}`, 200, "", `"mfaEnabled":true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(data, tc.as, tc.method, tc.path, tc.body)
			require.Equal(t, tc.code, code, body)
			if tc.aut != "" {
				require.Contains(t, body, `"`+tc.aut+`"`)
			}
			require.Contains(t, body, tc.says)
		})
	}
	code, body := call(adminPlane, "", "PATCH", "/v1/users/"+v.ID, `{"email":"vera@new.example"}`)
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"mfaEnabled":false`, "the moved factor is off until enrolled again")
}

package login_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/delivery/deliverytest"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

var sentCode = regexp.MustCompile(`code is (\d{6})\b`)

// TestDeliveredCodes: a code sent by e-mail is stored only as a keyed
// hash, works once, expires after five minutes, and is burnt after five
// wrong guesses; a failed delivery says nothing of the account and is
// audited with the provider and the user ID only.
func TestDeliveredCodes(t *testing.T) {
	t.Parallel()
	d := newDeliveredEnv(t)
	e := d.env
	ctx := context.Background()
	u := e.User(t, "olga")
	next := func() string {
		t.Helper()
		return d.mailCode(t, "olga@example.com")
	}

	_, err := e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	code := next()
	c, err := e.Store.Credentials().Get(u.ID)
	require.NoError(t, err)
	raw, _ := json.Marshal(c)
	require.NotContains(t, string(raw), code, "the code is stored only as a hash")
	require.Len(t, c.Codes[api.MFATypeEmail].Hash, 32)
	require.False(t, bytes.Contains(c.Codes[api.MFATypeEmail].Hash, []byte(code)), "the code is stored only as a hash")

	// Expired after five minutes.
	e.Clock.Add(5*time.Minute + time.Second)
	_, err = e.Enrolment.MFAVerify(ctx, admin, u.ID, api.MFAVerifyRequest{MFAType: api.MFATypeEmail, Passcode: code})
	require.ErrorIs(t, err, api.ErrBadPasscode, "an expired code is refused")

	// Five wrong guesses burn a code.
	_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	code = next()
	for range 5 {
		_, err = e.Enrolment.MFAVerify(ctx, admin, u.ID, api.MFAVerifyRequest{MFAType: api.MFATypeEmail, Passcode: "000000"})
		require.ErrorIs(t, err, api.ErrBadPasscode)
	}
	_, err = e.Enrolment.MFAVerify(ctx, admin, u.ID, api.MFAVerifyRequest{MFAType: api.MFATypeEmail, Passcode: code})
	require.ErrorIs(t, err, api.ErrBadPasscode, "a code is burnt after five wrong guesses")

	// The right code once, then never again.
	_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeEmail)
	require.NoError(t, err)
	code = next()
	_, err = e.Enrolment.MFAEnable(ctx, admin, u.ID, api.MFAEnableRequest{MFAType: api.MFATypeEmail, Passcode: code})
	require.NoError(t, err)
	_, err = e.Enrolment.MFAVerify(ctx, admin, u.ID, api.MFAVerifyRequest{MFAType: api.MFATypeEmail, Passcode: code})
	require.ErrorIs(t, err, api.ErrBadPasscode, "a code works once")
	st, err := e.Enrolment.MFAStatus(u.ID)
	require.NoError(t, err)
	require.Equal(t, api.MFAStatus{Enabled: true, PreferredType: "email", Methods: []string{"email"}, EmailEnabled: true}, st)

	// A failed delivery: the relay is no longer trusted.
	other := deliverytest.NewCA(t)
	_, err = e.Service.Providers().UpdateProvider(ctx, admin, "relay", api.UpdateProviderRequest{CAPEM: &other.PEM})
	require.NoError(t, err)
	e.Clock.Add(time.Hour) // past the resend limit
	err = e.SignIn.SendLoginCode(ctx, admin, u.ID, api.MFATypeEmail)
	require.ErrorIs(t, err, api.ErrUnavailable)
	require.NotContains(t, err.Error(), "olga")
	require.NotContains(t, err.Error(), "certificate", "the caller learns nothing of why")
	entries, err := audit.List(e.Store, 0, 0)
	require.NoError(t, err)
	var failed []store.AuditEntry
	for _, en := range entries {
		raw, _ := json.Marshal(en)
		require.NotContains(t, string(raw), "olga@example.com", "an address reached the audit log")
		if en.Type == "mfa.code_sent" && en.Result == "failed" {
			failed = append(failed, en)
		}
	}
	require.Len(t, failed, 1)
	require.Equal(t, "user:"+u.ID, failed[0].Target)
	require.Equal(t, "relay", failed[0].Detail["provider"])
}

// TestResendLimit: three codes in a burst per user, then one a minute.
func TestResendLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	ca := deliverytest.NewCA(t)
	gw := deliverytest.NewGateway(t, ca, 0)
	_, err := e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "sms", Category: api.ProviderSMS,
		URL: gw.URL, Template: `{"to":"{{phone}}","text":"{{message}}"}`, CAPEM: ca.PEM})
	require.NoError(t, err)
	u, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "sam", Email: "sam@example.com", PhoneNumber: "+4915112345678"})
	require.NoError(t, err)
	for range 3 {
		_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeSMS)
		require.NoError(t, err)
	}
	_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeSMS)
	require.ErrorIs(t, err, api.ErrRateLimited)
	e.Clock.Add(time.Minute)
	_, err = e.Enrolment.MFASetup(ctx, admin, u.ID, api.MFATypeSMS)
	require.NoError(t, err)
	require.Equal(t, 4, gw.Count())
}

// TestPhoneNumber checks E.164 validation on create and update.
func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"", true}, {"+4915112345678", true}, {"+12", true}, {"+123456789012345", true},
		{"+1234567890123456", false}, {"4915112345678", false}, {"+0123", false}, {"+49 151 1234", false}, {"+49-151", false}, {"+", false}, {"+1", false},
	} {
		require.Equal(t, tc.ok, credential.CheckPhoneNumber(tc.in) == nil, tc.in)
	}
}

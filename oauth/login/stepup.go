package login

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/accessd/accessd/oauth/api"
)

// Step-up for credential operations on the data plane.
//
// Minting or rotating an application secret, and changing a user's
// second factors (disabling them, enrolling another, changing the
// preferred one), are what a stolen access token would be used for. On
// the data plane they need, besides the permission, a session whose
// sign-in passed a second factor that was already on before that
// sign-in, no longer ago than [identity] credential_ops_max_age. The
// sign-in's time and methods come from the refresh family (a refresh
// keeps them), so neither a refresh nor a factor enrolled later makes an
// old or single-factor session strong enough. Application tokens never
// qualify. The admin socket needs none of it: the peer check is its
// authorization.

// AMR values (RFC 8176) accessd records on a sign-in.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
)

// stepUp decides whether a may do the credential operation op ("create
// an application", …) on the data plane now. A refusal is audited.
func (s *room) stepUp(ctx context.Context, a Actor, op string) error {
	if a.Admin {
		return nil
	}
	deny := func(format string, args ...any) error {
		why := fmt.Sprintf(format, args...)
		s.record(ctx, s.entry(a, "stepup.denied", a.Name, "denied", map[string]string{"operation": op, "client": a.ClientID}))
		return fmt.Errorf("identity: %w: to %s on the data plane %s", api.ErrStepUp, op, why)
	}
	if a.Session == nil {
		if a.SubjectID != "" && a.Name != "user:"+a.SubjectID {
			return deny("a user's session is needed; an application token never qualifies (or use `accessctl` on the host)")
		}
		return deny("a current sign-in is needed (the session ended); sign in again with your second factor")
	}
	if !slices.Contains(a.Session.AMR, AMROTP) {
		return deny("your sign-in must have passed a second factor, and this one did not; sign in again with your second factor (enrol one first if you have none)")
	}
	_, c, err := s.dir.UserCredential(a.SubjectID)
	if err != nil {
		return err
	}
	if !c.SecondFactor() || c.FactorsChangedAt.After(a.Session.AuthTime) {
		return deny("your second factors changed after you signed in; sign in again with the factor you have now")
	}
	if age, max := s.now().Sub(a.Session.AuthTime), s.stepUpMaxAge; age > max {
		return deny("your sign-in must be at most %s old, and it is %s old; sign in again with your second factor", max, age.Truncate(time.Second))
	}
	return nil
}

package login

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// Where the e-mail and SMS factors deliver.
//
// An enabled e-mail or SMS factor sends its codes to the user's address
// or number, so changing that address moves the factor: whoever names the
// new address receives the codes. On the data plane, then, a user may
// change the address of their own enabled factor only with a step-up
// session, and nobody may change it on another user's record (that is
// `accessctl user update` on the admin socket). Wherever the change is
// allowed, the factor is turned off in the same transaction and must be
// enrolled again at the new address: nothing delivers to an address that
// was never proven.

// redirectedFactors lists the enabled delivered factors whose address or
// number req changes on u.
func redirectedFactors(u store.User, c store.Credential, req api.UpdateUserRequest) []string {
	var out []string
	if req.Email != nil && *req.Email != u.Email && c.EmailEnabled {
		out = append(out, api.MFATypeEmail)
	}
	if req.PhoneNumber != nil && *req.PhoneNumber != u.PhoneNumber && c.SMSEnabled {
		out = append(out, api.MFATypeSMS)
	}
	return out
}

// MayRedirectFactors decides, before UpdateUser's transaction, whether a
// may move the address of an enabled delivered factor of the user
// idOrName. It reports whether such a move was allowed (so the
// transaction can tell a factor enabled meanwhile from one checked here).
func (s *Enrolment) MayRedirectFactors(ctx context.Context, a Actor, idOrName string, req api.UpdateUserRequest) (bool, error) {
	if a.Admin || (req.Email == nil && req.PhoneNumber == nil) {
		return true, nil
	}
	var moved []string
	var id string
	err := s.r.st.View(func(tx *store.Tx) error {
		u, err := s.r.dir.UserFor(tx, a, idOrName)
		if err != nil {
			return err
		}
		c, err := tx.Credentials().Get(u.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		id, moved = u.ID, redirectedFactors(u, c, req)
		return nil
	})
	if err != nil {
		return false, storeErr("update user", err)
	}
	if len(moved) == 0 {
		return false, nil
	}
	if a.SubjectID != id {
		s.r.record(ctx, s.r.entry(a, "user.update", "user:"+id, "denied", map[string]string{"reason": "moves an enabled " + strings.Join(moved, ",") + " factor"}))
		return false, fmt.Errorf("identity: %w: the user's %s second factor delivers codes to this address; only the admin socket may change it (`accessctl user update`), which also turns the factor off until it is verified again", api.ErrForbidden, strings.Join(moved, " and "))
	}
	if err := s.r.stepUp(ctx, a, "change the address your sign-in codes go to"); err != nil {
		return false, err
	}
	return true, nil
}

// ResetMovedFactors runs inside UpdateUser's transaction, with cur the
// record before the change: a delivered factor whose address or number
// changes loses its proof (verified flag, open code), and if it was on it
// is turned off and audited, its preferred mark cleared and
// FactorsChangedAt moved, the way MFADisable does. allowed is
// MayRedirectFactors' answer; an enabled factor it did not see is refused.
func (s *Enrolment) ResetMovedFactors(tx *store.Tx, a Actor, cur store.User, req api.UpdateUserRequest, allowed bool) error {
	emailMoved := req.Email != nil && *req.Email != cur.Email
	smsMoved := req.PhoneNumber != nil && *req.PhoneNumber != cur.PhoneNumber
	if !emailMoved && !smsMoved {
		return nil
	}
	c, err := tx.Credentials().Get(cur.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	moved := redirectedFactors(cur, c, req)
	if len(moved) > 0 && !allowed {
		return fmt.Errorf("identity: %w: a second factor was turned on while the user was being updated; send the update again", api.ErrConflict)
	}
	now := s.r.now().UTC()
	if _, err := tx.Credentials().Put(cur.ID, func(c store.Credential, _ bool) (store.Credential, error) {
		codes := make(map[string]store.OneTimeCode, len(c.Codes))
		for k, v := range c.Codes {
			codes[k] = v
		}
		if emailMoved {
			c.EmailEnabled, c.EmailVerified = false, false
			delete(codes, api.MFATypeEmail)
		}
		if smsMoved {
			c.SMSEnabled, c.SMSVerified = false, false
			delete(codes, api.MFATypeSMS)
		}
		c.Codes = codes
		if len(moved) > 0 {
			c.FactorsChangedAt = now
			if !factorOn(c, c.MFAPreferred) {
				c.MFAPreferred = ""
			}
		}
		return c, nil
	}); err != nil {
		return err
	}
	if len(moved) == 0 {
		return nil
	}
	return tx.Audit().Stage(s.r.entry(a, "mfa.disable", "user:"+cur.ID, "ok", map[string]string{"mfaType": strings.Join(moved, ","),
		"reason": "its address changed; enrol it again at the new one"}))
}

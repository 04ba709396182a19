package login

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Delivered one-time codes (the e-mail and SMS factors).
const (
	// codeTTL is how long a sent code may be used (Lerian: 5 minutes).
	codeTTL = 5 * time.Minute
	// codeAttempts is how many wrong guesses burn a code; each also
	// counts toward the account's lockout.
	codeAttempts = 5
	// Purposes of a code: one sent at enrolment cannot complete a
	// sign-in, nor the other way round.
	purposeEnrol = "enrol"
	purposeLogin = "login"
)

// Resend limits: a burst of three, then one a minute, per user and per
// destination, so nobody turns accessd into a mail or SMS cannon.
const (
	sendBurst      = 3
	sendEvery      = time.Minute
	maxSendLimited = 100_000
)

// newCode returns 6 uniformly random digits.
func newCode(r io.Reader) (string, error) {
	n, err := rand.Int(r, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("identity: code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// codeHash binds a code to its user, type, purpose and destination: a
// code sent to an address that changed since no longer verifies.
func codeHash(st credential.Pepper, userID, typ, purpose, dest, code string) []byte {
	return st.Sum("mfa-code", []byte(userID+"\x00"+typ+"\x00"+purpose+"\x00"+dest+"\x00"+code))
}

// destination is where a user's code of typ goes, and the category of
// provider that delivers it.
func destination(u store.User, typ string) (dest, category string, err error) {
	switch typ {
	case api.MFATypeEmail:
		if u.Email == "" {
			return "", "", invalid("the user has no e-mail address")
		}
		return u.Email, api.ProviderEmail, nil
	case api.MFATypeSMS:
		if u.PhoneNumber == "" {
			return "", "", invalid("the user has no phoneNumber; set one first (accessctl user update --phone-number)")
		}
		return u.PhoneNumber, api.ProviderSMS, nil
	}
	return "", "", invalid("mfaType %q is not delivered", typ)
}

// sendLimits are the per-user and per-destination resend limiters, in
// memory (a restart forgets them). Destinations are keyed by a hash.
type sendLimits struct {
	mu sync.Mutex
	m  map[string]*sendLimit
}

type sendLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

func (l *sendLimits) allow(now time.Time, keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*sendLimit{}
	}
	if len(l.m) >= maxSendLimited {
		for k, e := range l.m {
			if now.Sub(e.seen) > sendBurst*sendEvery {
				delete(l.m, k)
			}
		}
		if len(l.m) >= maxSendLimited {
			return false
		}
	}
	lims := make([]*rate.Limiter, 0, len(keys))
	for _, k := range keys {
		e, ok := l.m[k]
		if !ok {
			e = &sendLimit{lim: rate.NewLimiter(rate.Every(sendEvery), sendBurst)}
			l.m[k] = e
		}
		e.seen = now
		lims = append(lims, e.lim)
	}
	// Take a token from every limiter only when each has one, so a
	// refused send does not spend the others'.
	for _, lim := range lims {
		if lim.TokensAt(now) < 1 {
			return false
		}
	}
	for _, lim := range lims {
		lim.AllowN(now, 1)
	}
	return true
}

// sendCode makes a code for u of typ and purpose, stores only its hash,
// and delivers it outside any transaction. A failed delivery is audited
// (provider and user ID, never the destination or the code) and
// answered with one message that tells nothing about the account.
func (s *room) sendCode(ctx context.Context, a Actor, u store.User, typ, purpose string) error {
	dest, category, err := destination(u, typ)
	if err != nil {
		return err
	}
	now := s.now()
	dk := sha256.Sum256([]byte(typ + "\x00" + dest))
	if !s.sends.allow(now, "user:"+u.ID, fmt.Sprintf("dest:%x", dk)) {
		s.record(ctx, s.entry(a, "mfa.code_sent", "user:"+u.ID, "rate-limited", map[string]string{"mfaType": typ}))
		return fmt.Errorf("identity: %w: a code was sent recently; wait a minute before asking for another", api.ErrRateLimited)
	}
	p, err := s.providers.ProviderFor(a.ClientID, category)
	if err != nil {
		s.log.Warn("MFA code not sent", "event", "identity.code_not_delivered", "user", u.ID, "mfaType", typ, "client", a.ClientID, "err", err)
		s.record(ctx, s.entry(a, "mfa.code_sent", "user:"+u.ID, "failed", map[string]string{"mfaType": typ, "reason": "no provider", "client": a.ClientID}))
		return err
	}
	code, err := newCode(s.rand)
	if err != nil {
		return err
	}
	hash := codeHash(s.st, u.ID, typ, purpose, dest, code)
	_, err = s.st.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
		codes := make(map[string]store.OneTimeCode, len(c.Codes)+1)
		for k, v := range c.Codes {
			codes[k] = v
		}
		codes[typ] = store.OneTimeCode{Hash: hash, Purpose: purpose, ExpiresAt: now.UTC().Add(codeTTL)}
		c.ID, c.Codes = u.ID, codes
		return c, nil
	})
	if err != nil {
		return storeErr("store code", err)
	}
	msg := fmt.Sprintf("Your %s verification code is %s. It expires in %d minutes. If you did not ask for it, tell your administrator.", s.issuer, code, int(codeTTL.Minutes()))
	_, err = s.providers.Send(ctx, p, dest, s.issuer+" verification code", msg)
	if errors.Is(err, api.ErrRateLimited) { // the provider's or the destination's send limit
		s.record(ctx, s.entry(a, "mfa.code_sent", "user:"+u.ID, "rate-limited", map[string]string{"mfaType": typ, "provider": p.Name}))
		return err
	}
	if err != nil {
		s.log.Warn("MFA code not delivered", "event", "identity.code_not_delivered", "provider", p.Name, "user", u.ID, "mfaType", typ, "err", err)
		s.record(ctx, s.entry(a, "mfa.code_sent", "user:"+u.ID, "failed", map[string]string{"mfaType": typ, "provider": p.Name, "purpose": purpose}))
		return errNotDelivered()
	}
	s.record(ctx, s.entry(a, "mfa.code_sent", "user:"+u.ID, "ok", map[string]string{"mfaType": typ, "provider": p.Name, "purpose": purpose}))
	return nil
}

func errNotDelivered() error {
	return fmt.Errorf("identity: %w: the code could not be delivered; try again later or use another factor", api.ErrUnavailable)
}

// checkCode verifies a delivered code under the lockout rules. A right
// code is removed in the same transaction that accepts it (single use);
// a wrong one counts toward the lockout and toward the code's own
// attempts. verified is called, inside that transaction, on success.
func (s *room) checkCode(ctx context.Context, a Actor, u store.User, typ, purpose, passcode, auditType string, verified func(*store.Credential)) (store.Credential, error) {
	now := s.now()
	if err := s.reserve(ctx, a, factorAttempt(u.ID), auditType, now); err != nil {
		return store.Credential{}, err
	}
	settled := false
	defer func() {
		if !settled {
			_ = s.settle(a, factorAttempt(u.ID), auditType, failed, now.UTC())
		}
	}()
	dest, _, derr := destination(u, typ)
	var verr error
	c, err := s.st.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
		verr = nil
		oc, ok := c.Codes[typ]
		switch {
		case !ok || oc.Purpose != purpose:
			verr = fmt.Errorf("identity: %w: no code was sent; ask for one first", api.ErrBadPasscode)
			return c, nil
		case !now.Before(oc.ExpiresAt) || oc.Failures >= codeAttempts:
			verr = fmt.Errorf("identity: %w: the code expired; ask for a new one", api.ErrBadPasscode)
		case derr != nil || len(passcode) != 6 || !hmac.Equal(oc.Hash, codeHash(s.st, u.ID, typ, purpose, dest, passcode)):
			verr = fmt.Errorf("identity: %w: wrong code", api.ErrBadPasscode)
			oc.Failures++
		}
		codes := make(map[string]store.OneTimeCode, len(c.Codes))
		for k, v := range c.Codes {
			codes[k] = v
		}
		if verr == nil || oc.Failures >= codeAttempts || !now.Before(oc.ExpiresAt) {
			delete(codes, typ) // used, burnt or expired: gone
		} else {
			codes[typ] = oc
		}
		c.Codes = codes
		if verr == nil && verified != nil {
			verified(&c)
		}
		return c, nil
	})
	if err != nil {
		return c, storeErr("check code", err)
	}
	o := failed
	if verr == nil {
		o = passed
	}
	settled = true
	if err := s.settle(a, factorAttempt(u.ID), auditType, o, now.UTC()); err != nil {
		return c, storeErr("record MFA attempt", err)
	}
	return c, verr
}

package token

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
)

// mfaTTL is how long an MFA challenge may be completed (Lerian: 5 min).
const mfaTTL = 5 * time.Minute

// mfaAttempts is how many wrong codes one challenge takes (Lerian: 5);
// each also counts toward the account's lockout.
const mfaAttempts = 5

// maxMFASessions bounds open challenges; each needs a correct password.
const maxMFASessions = 100_000

// mfaSessions are the open MFA challenges of password grants, in memory
// only (a restart means signing in again), keyed by the SHA-256 of the
// mfaToken. A challenge is taken out of the table while its code is
// checked, so two requests cannot both complete it.
type mfaSessions struct {
	mu sync.Mutex
	m  map[[32]byte]*mfaSession
}

type mfaSession struct {
	userID, clientID string
	nonce            string // the password grant's, for the ID token
	cert             *x509.Certificate
	opened, expires  time.Time
	failures         int
}

// open records the challenge tok of a user whose password was right.
func (m *mfaSessions) open(tok string, now time.Time, userID, clientID, nonce string, cert *x509.Certificate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[[32]byte]*mfaSession{}
	}
	if len(m.m) >= maxMFASessions {
		m.sweepLocked(now)
		if len(m.m) >= maxMFASessions {
			return fmt.Errorf("token: %w: too many sign-ins waiting for a second factor; try again shortly", api.ErrUnavailable)
		}
	}
	m.m[sha256.Sum256([]byte(tok))] = &mfaSession{userID: userID, clientID: clientID, nonce: nonce, cert: cert, opened: now, expires: now.Add(mfaTTL)}
	return nil
}

func (m *mfaSessions) take(tok string, now time.Time) (*mfaSession, [32]byte, bool) {
	k := sha256.Sum256([]byte(tok))
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.m[k]
	if !ok {
		return nil, k, false
	}
	delete(m.m, k)
	if !now.Before(ms.expires) {
		return nil, k, false
	}
	return ms, k, true
}

// peek returns the user and client of an open challenge without taking it.
func (m *mfaSessions) peek(tok string, now time.Time) (userID, clientID string, ok bool) {
	k := sha256.Sum256([]byte(tok))
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.m[k]
	if !ok || !now.Before(ms.expires) {
		return "", "", false
	}
	return ms.userID, ms.clientID, true
}

func (m *mfaSessions) put(k [32]byte, ms *mfaSession) {
	m.mu.Lock()
	m.m[k] = ms
	m.mu.Unlock()
}

func (m *mfaSessions) sweep(now time.Time) {
	m.mu.Lock()
	m.sweepLocked(now)
	m.mu.Unlock()
}

func (m *mfaSessions) sweepLocked(now time.Time) {
	for k, ms := range m.m {
		if !now.Before(ms.expires) {
			delete(m.m, k)
		}
	}
}

// MFA completes the password grants answered with a challenge: it sends
// the code of an e-mail or SMS factor on request and verifies the code,
// then issues the user's tokens.
type MFA struct {
	open     *mfaSessions
	subjects Subjects
	sessions SessionChecker
	second   SecondFactor
	users    Users
	tokens   *userTokens
	metrics  *Metrics
	now      func() time.Time
}

// Verify completes a password grant's challenge: POST
// /v1/login/mfa/verify. The code (or a recovery code) is checked under
// the account's lockout; a wrong one spends an attempt of the challenge,
// and the fifth ends it.
func (m *MFA) Verify(ctx context.Context, req api.MFALoginRequest, source string) (*Issued, error) {
	if req.MFAToken == "" || (req.Passcode == "" && req.RecoveryCode == "") {
		return nil, fmt.Errorf("token: %w: mfaToken and passcode (or recoveryCode) are required", api.ErrMissingRequired)
	}
	switch req.MFAType {
	case "", api.MFATypeApp, api.MFATypeEmail, api.MFATypeSMS:
	default:
		return nil, fmt.Errorf("token: %w: mfaType must be \"app\", \"email\" or \"sms\"", api.ErrInvalidField)
	}
	ms, k, ok := m.open.take(req.MFAToken, m.now())
	if !ok {
		m.metrics.issued.WithLabelValues("mfa", "refused").Inc()
		return nil, fmt.Errorf("token: %w: the MFA challenge is unknown, used or expired; sign in again", api.ErrBadPasscode)
	}
	// A forced logout, a disable or a delete since the password was
	// checked ends the challenge too (the open time in whole seconds, as
	// tokens carry them).
	if !m.subjects.Has(ms.userID) || !m.sessions.TokenValid(ms.userID, "", ms.opened.Truncate(time.Second)) {
		m.metrics.issued.WithLabelValues("mfa", "refused").Inc()
		return nil, fmt.Errorf("token: %w: the MFA challenge is unknown, used or expired; sign in again", api.ErrBadPasscode)
	}
	a := change.Actor{Name: "user:" + ms.userID, Source: source}
	if err := m.second.VerifySecondFactor(ctx, a, ms.userID, req.MFAType, req.Passcode, req.RecoveryCode); err != nil {
		ms.failures++
		if ms.failures < mfaAttempts && ctx.Err() == nil {
			m.open.put(k, ms)
		}
		m.metrics.issued.WithLabelValues("mfa", "refused").Inc()
		return nil, err
	}
	u, err := m.users.Get(ms.userID)
	if err != nil || u.Disabled {
		return nil, fmt.Errorf("token: %w: sign in again", api.ErrBadLogin)
	}
	out, err := m.tokens.issue(ctx, u, ms.clientID, ms.nonce, ms.cert, "password+mfa", source)
	if err == nil {
		m.metrics.issued.WithLabelValues("mfa", "ok").Inc()
	}
	return out, err
}

// Challenge sends a code for an open challenge by e-mail or SMS
// (POST /v1/login/mfa/challenge) to the address or number the user
// enrolled; the request names only the factor. The challenge stays open
// (sending spends none of its attempts); resends are rate-limited by
// the Identity layer per user and per destination.
func (m *MFA) Challenge(ctx context.Context, req api.MFAChallengeRequest, source string) (api.MFAChallengeSent, error) {
	if req.MFAToken == "" || req.MFAType == "" {
		return api.MFAChallengeSent{}, fmt.Errorf("token: %w: mfaToken and mfaType are required", api.ErrMissingRequired)
	}
	userID, clientID, ok := m.open.peek(req.MFAToken, m.now())
	if !ok {
		return api.MFAChallengeSent{}, fmt.Errorf("token: %w: the MFA challenge is unknown, used or expired; sign in again", api.ErrBadPasscode)
	}
	// The client picks the provider: the default of the application the
	// user signs in through, else the category'm.
	a := change.Actor{Name: "user:" + userID, Source: source, ClientID: clientID}
	if err := m.second.SendLoginCode(ctx, a, userID, req.MFAType); err != nil {
		return api.MFAChallengeSent{}, err
	}
	return api.MFAChallengeSent{Message: "a verification code was sent by " + map[string]string{api.MFATypeEmail: "e-mail", api.MFATypeSMS: "SMS"}[req.MFAType]}, nil
}

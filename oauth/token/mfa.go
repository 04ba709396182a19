package token

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
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
	cert             *x509.Certificate
	expires          time.Time
	failures         int
}

func (m *mfaSessions) open(s *Server, userID, clientID string, cert *x509.Certificate) (string, error) {
	tok, err := s.randomToken("mfa_")
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[[32]byte]*mfaSession{}
	}
	if len(m.m) >= maxMFASessions {
		m.sweepLocked(s.now())
		if len(m.m) >= maxMFASessions {
			return "", fmt.Errorf("token: %w: too many sign-ins waiting for a second factor; try again shortly", api.ErrUnavailable)
		}
	}
	m.m[sha256.Sum256([]byte(tok))] = &mfaSession{userID: userID, clientID: clientID, cert: cert, expires: s.now().Add(mfaTTL)}
	return tok, nil
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

// VerifyMFA completes a password grant's challenge: POST
// /v1/login/mfa/verify. The code (or a recovery code) is checked under
// the account's lockout; a wrong one spends an attempt of the challenge,
// and the fifth ends it.
func (s *Server) VerifyMFA(ctx context.Context, req api.MFALoginRequest, source string) (*issued, error) {
	if req.MFAToken == "" || (req.Passcode == "" && req.RecoveryCode == "") {
		return nil, fmt.Errorf("token: %w: mfaToken and passcode (or recoveryCode) are required", api.ErrMissingFields)
	}
	if req.MFAType != "" && req.MFAType != "app" {
		return nil, fmt.Errorf("token: %w: mfaType %q is not enabled on this accessd; use \"app\" (TOTP)", api.ErrInvalidField, req.MFAType)
	}
	ms, k, ok := s.mfa.take(req.MFAToken, s.now())
	if !ok {
		s.metrics.issued.WithLabelValues("mfa", "refused").Inc()
		return nil, fmt.Errorf("token: %w: the MFA challenge is unknown, used or expired; sign in again", api.ErrBadPasscode)
	}
	a := identity.Actor{Name: "user:" + ms.userID, Source: source}
	if err := s.id.VerifySecondFactor(ctx, a, ms.userID, req.Passcode, req.RecoveryCode); err != nil {
		ms.failures++
		if ms.failures < mfaAttempts && ctx.Err() == nil {
			s.mfa.put(k, ms)
		}
		s.metrics.issued.WithLabelValues("mfa", "refused").Inc()
		return nil, err
	}
	u, err := s.st.Users().Get(ms.userID)
	if err != nil || u.Disabled {
		return nil, fmt.Errorf("token: %w: sign in again", api.ErrBadLogin)
	}
	out, err := s.userTokens(ctx, u, ms.clientID, ms.cert, "password+mfa", source)
	if err == nil {
		s.metrics.issued.WithLabelValues("mfa", "ok").Inc()
	}
	return out, err
}

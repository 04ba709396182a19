package token

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/login"
	"github.com/accessd/accessd/store"
)

// What the token layer needs of the identity side, one small interface
// per job, each named for the job and holding the methods of the users
// and applications directory or of the sign-in room that do it.

// SessionChecker says whether a user's or application's tokens of the
// session sid ("" for none) issued at iat still stand (no forced logout,
// disable or delete since, nor another session's end of the others).
type SessionChecker interface {
	TokenValid(id, sid string, iat time.Time) bool
}

// ClientDirectory finds applications by client ID and writes down their
// last use (batched by the per-minute summary).
type ClientDirectory interface {
	Client(clientID string) (login.Client, bool)
	RecordClientUse() error
}

// ClientAuthenticator checks an application's credentials: a secret,
// audited and counted toward its lockout, or quietly (over the failure
// budget), or the certificate TLS verified (RFC 8705).
type ClientAuthenticator interface {
	AuthenticateClient(ctx context.Context, a change.Actor, clientID string, secret []byte) (login.Client, error)
	CheckClientSecret(clientID string, secret []byte) (login.Client, bool)
	AuthenticateCertificate(ctx context.Context, a change.Actor, clientID string, cert *x509.Certificate) (login.Client, error)
}

// SignInService checks a user's password under the account's lockout;
// AttemptKey names the account a username or address signs in to, so
// both spend one rate-limit budget.
type SignInService interface {
	SignIn(ctx context.Context, a change.Actor, username string, password []byte) (login.SignInResult, error)
	AttemptKey(name string) string
}

// SecondFactor checks and delivers the codes of a sign-in's second
// factor.
type SecondFactor interface {
	VerifySecondFactor(ctx context.Context, a change.Actor, userID, mfaType, passcode, recoveryCode string) error
	SendLoginCode(ctx context.Context, a change.Actor, userID, mfaType string) error
}

// Users reads user records (the claims of a user's tokens).
type Users interface {
	Get(id string) (store.User, error)
}

// familyStore is what the token layer asks of the refresh families.
type familyStore interface {
	Create(f store.RefreshFamily) (store.RefreshFamily, error)
	Get(id string) (store.RefreshFamily, error)
	GetByTokenHash(hash []byte) (store.RefreshFamily, error)
	Update(id string, fn func(old store.RefreshFamily) (store.RefreshFamily, error)) (store.RefreshFamily, error)
}

var _ familyStore = (*store.RefreshFamilyRepo)(nil)
var _ Users = (*store.UserRepo)(nil)

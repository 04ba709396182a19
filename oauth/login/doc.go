// Package login is the sign-in: a password checked under the account's
// lockout, the second factor (a TOTP code, a code delivered by e-mail or
// SMS, a recovery code), the step-up that credential operations on the
// data plane need, the enrolment of second factors, and the
// authentication of applications (client secret and tls_client_auth).
//
// A sign-in reads top to bottom here: SignIn (login.go) finds the
// account through the directory, reserves an attempt, checks the
// password, settles the attempt with its audit entry and says whether a
// second factor is due; VerifySecondFactor (secondfactor.go) reserves,
// checks the code (otp.go for delivered ones) and settles the same way.
// The directory (oauth/directory) is reached only through Directory; it
// asks back, for its own credential operations, the step-up and the
// password check (SignIn) and the rules on moving a delivered factor's
// address (Enrolment).
//
// Client authentication lives here, as its own type (Clients), rather
// than in oauth/token: its table of applications is kept by the
// directory's index refreshes as applications change, which the token
// layer must not reach, and its failures are audited like a failed
// sign-in. The token layer sees it through its own small interfaces.
//
// # Threat model
//
// Passwords, codes and secrets reach this package only to be checked or
// hashed by oauth/credential, and never a log line or an audit detail; a
// refusal or a failed sign-in is audited durably before the caller is
// answered, except that the sign-ins of an unknown username are audited
// as Options.Refusals does (the first few of each source and name a
// minute in full, the rest in that minute's summary), with the name in
// the entry's detail, which the journal's copy never carries. What it
// defends against besides what oauth/credential does:
//
//   - Brute force, without lockout on demand (ledger.go). Failed
//     passwords count per (account, source: an IPv4 address, an IPv6
//     /64): a source that failed lockout_attempts times is throttled on
//     that account for lockout_duration (429, Retry-After, no check),
//     others are not; an unknown username is throttled the same way, in
//     memory, so a 429 never tells whether it exists. Second-factor
//     guesses count per account (only a holder of the password gets
//     there). The account locks for everyone after AccountFailures
//     failures in a row from any sources (lockout_attempts with
//     [identity] lockout = "account", PCI DSS 8.3.4). Every count is
//     reserved before the check so that parallel guesses never exceed
//     it; an unknown username costs as much as a wrong password, and a
//     locked account answers exactly like a wrong password. A
//     reservation never settled (a crash) counts as a failure whose lock
//     has its normal end, and a lock or throttle further ahead than one
//     lockout period (a clock that jumped back) is treated as expired.
//     The per-source counts are bounded in memory; when full the least
//     recently used are forgotten, which gives a flood of sources some
//     budgets back (the account's still binds) and refuses nobody.
//   - Replay and guessing of codes sent by e-mail or SMS (otp.go). A code
//     is 6 uniform digits from crypto/rand, stored only as the store's
//     keyed hash bound to user, factor, purpose and destination, removed
//     in the transaction that accepts it, refused after 5 minutes or 5
//     wrong guesses; every guess counts toward the lockout. Resends are
//     limited per user and per destination. A code goes only to the
//     user's own enrolled address or number, never to one a caller names,
//     and is delivered (oauth/delivery: TLS required, peer verified)
//     outside any store transaction. A failed delivery is answered with
//     one message and audited with the provider and the user ID;
//     addresses, numbers and codes never reach a log or an audit detail.
//     A TOTP code is accepted once (its step is recorded with the
//     success), a recovery code once.
//   - A stolen access token used to mint credentials or to switch MFA
//     off. On the data plane those need a sign-in with a second factor
//     that was on before it, within credential_ops_max_age, as its
//     refresh family recorded it; a refresh never renews it and
//     application tokens never qualify (stepup.go). A stolen token of a
//     password-only session can still enrol a user's first factor.
//     Moving the address of an enabled delivered factor needs the same
//     step-up, is refused on another user's record, and turns the factor
//     off until it is enrolled again (factordest.go).
//   - Client impersonation. A client secret is checked against the live
//     hashes in constant time across them, never saying which part was
//     wrong; a certificate must match the application's bound key or
//     subject after TLS verified it; an expired application passes
//     neither.
//
// What it does not defend against: a compromised running daemon, and an
// admin on the socket, who may do anything an admin may.
package login

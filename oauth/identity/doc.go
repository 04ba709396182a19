// Package identity holds users, groups, applications and their
// credentials as records, and the sign-in, second factors and delivered
// codes that use them. The pure credential rules (password policy and
// hashing, usernames, TOTP, recovery codes, client secrets) are
// oauth/credential's, with their threat model; provider administration
// is oauth/delivery's, policy apply oauth/policy's, the access review and
// audit listing oauth/review's, and the HTTP routes oauth/edge's.
//
// The directory is rooms over one shared core (store, audit writer,
// permission index, hasher, policy, clock, logout epochs): Users,
// Groups, Applications, Tenants (what a caller's tenant sees and what it
// may confer) and the Lerian Importer, each reached from Service, which
// keeps what belongs to the whole: bootstrap, loading the index, the
// hasher's figures and the delivery providers.
//
// # Threat model
//
// Every change is one store transaction with its audit entry staged in
// it, then applied to the permission index; a refusal or a failed
// sign-in is audited durably before the caller is answered. Passwords,
// codes and secrets reach this package only to be checked or hashed by
// oauth/credential, and never a log line or an audit detail. What it
// defends against besides what oauth/credential does:
//
//   - Replay and guessing of codes sent by e-mail or SMS (otp.go). A code
//     is 6 uniform digits from crypto/rand, stored only as the store's
//     keyed hash bound to user, factor, purpose and destination, removed
//     in the transaction that accepts it, refused after 5 minutes or 5
//     wrong guesses; every guess counts toward the lockout. Resends are
//     limited per user and per destination. A code goes only to the
//     user's own enrolled address or number, never to one a caller names,
//     and is delivered (oauth/delivery: TLS required, peer verified)
//     outside any store transaction within 10 s. A failed delivery is
//     answered with one message and audited with the provider and the
//     user ID; addresses, numbers and codes never reach a log or an
//     audit detail. Provider secrets are sealed to the provider's record
//     and never returned. Which provider delivers is chosen (the sign-in
//     application's default, else the category's), never an accident of
//     order (oauth/delivery).
//   - A stolen access token used to mint credentials or to switch MFA
//     off. On the data plane those need a sign-in with a second factor
//     that was on before it, within credential_ops_max_age, as its
//     refresh family recorded it; a refresh never renews it and
//     application tokens never qualify (stepup.go). A stolen token of a
//     password-only session can still enrol a user's first factor.
//   - Brute force. Failed sign-ins and second-factor guesses count
//     toward one lockout per account (lockout_attempts within
//     lockout_duration), reserved before the check so that parallel
//     guesses never exceed it; an unknown username costs as much as a
//     wrong password.
//
// What it does not defend against: a compromised running daemon, and an
// admin on the socket, who may do anything an admin may.
package identity

// Package directory holds users, groups, applications and their
// credentials as records, who may confer what, and the bootstrap; the
// sign-in, second factors, delivered codes and client authentication
// that use them are oauth/login's. The pure credential rules (password
// policy and hashing, usernames, TOTP, recovery codes, client secrets)
// are oauth/credential's, with their threat model; provider
// administration is oauth/delivery's, policy apply oauth/policy's, the access review and
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
//   - Sign-in attacks (brute force, code replay, a stolen token used to
//     mint credentials) are oauth/login's: the directory asks it for the
//     step-up of its credential operations, the old password of a
//     password change and the rules on moving a delivered factor's
//     address (login_deps.go), and answers its reads of users and
//     credentials through login.Directory.
//   - Look-alike subjects (lookalike.go): no new user is named like a
//     record ID, a client ID or an application, nor an application like a
//     user, and a bare group member that names a user and an application
//     is refused, so a planted user is never taken for an application.
//
// What it does not defend against: a compromised running daemon, and an
// admin on the socket, who may do anything an admin may.
package directory

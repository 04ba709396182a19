// Package token is accessd's OAuth 2.0 engine: the grants
// (client_credentials, password with an MFA challenge completed with a
// TOTP, e-mail or SMS code, the latter two sent on request; refresh_token
// with rotation), client authentication (client_secret_basic,
// client_secret_post, Lerian's JSON fields, tls_client_auth), the JWT
// access tokens and their signing keys, JWKS and discovery metadata,
// verification, introspection, revocation, logout and userinfo; it
// applies authz's rule for which product a /v1/authorize body asks about
// to the verified token. Its HTTP routes (both faces of
// the token endpoint, the decisions composed with the permission index)
// are registered by the HTTP edge, oauth/edge.
//
// Server dispatches: each grant is one file and one type behind the grant
// interface, holding only its collaborators (the client authenticator,
// its rate limits, the signer, the refresh-family store, the audit
// summary); the Revoker ends tokens and sessions. What the token layer
// needs of the identity side is declared here as small interfaces
// (SessionChecker, ClientDirectory, ClientAuthenticator, SignInService,
// SecondFactor), one per job.
//
// # Invariants
//
//   - A token's decision is about its own principal. /v1/authorize reads
//     the subject from the verified token; the body's sub must name that
//     principal, or, for a token that is not a user's, be lib-auth v2.9's
//     role subject "admin/<P>-editor-role", which names only the product
//     <P> (a body product that differs is refused) and grants nothing.
//     Nothing in the body widens a decision.
//   - Verification is complete on every call: signature (cached by the
//     token's SHA-256, nothing else is), typ at+jwt, a published kid whose
//     algorithm matches the header, issuer, expiry and not-before,
//     revocation by jti, and the subject's epoch (deleted, disabled,
//     logged out) from memory.
//   - No secret is stored in the clear. Client secrets are compared as
//     keyed HMACs (oauth/directory), refresh tokens are stored as keyed
//     hashes, MFA challenges by SHA-256 in memory, signing private keys as
//     sealed fields of the store.
//   - A refresh token is spent by its use. Presenting a spent one again
//     revokes its whole family (RFC 9700 §4.14.2), so a thief and the
//     rightful holder cannot both go on.
//   - A published key signs only after it has been published for one
//     rotation period (the "next" key), and a retired key stays published
//     until the last token it signed has expired, so rotation never
//     breaks a verifier that caches JWKS.
//   - Failures are rate-limited before they are checked: client
//     authentication per client ID and source, password grants per
//     source and per (username, source) (token buckets; 429 with
//     Retry-After; a source is an IPv4 address or an IPv6 /64), never per
//     username alone, which would let anyone spend a user's budget. A full
//     limiter forgets its least recently used keys rather than refuse new
//     ones. A locked account, an unknown user and a wrong password answer
//     the same.
//   - The hot paths touch no disk: the client lookup (a copy-on-write
//     table), the secret's HMAC, the signature and the decision are memory
//     work; a client_credentials grant is audited in a per-application,
//     per-minute summary, and a password or refresh grant and every
//     failure get their own durable audit entry. A denied decision is
//     audited by the HTTP edge's Refusals: the first few of each
//     principal, resource, action and reason a minute in full, the rest
//     in that minute's summary, so a flood of denials costs the audit
//     log a bounded number of entries (every one is counted in metrics).
//
// # What it does not defend against
//
//   - A stolen access token is valid until it expires, is revoked, or its
//     subject is logged out; tokens bound to a client certificate
//     (cnf.x5t#S256) are only as strong as the resource server that checks
//     the binding: /v1/authorize is called by the resource server, not by
//     the client, so it cannot see the client's certificate.
//   - Tokens carry whole seconds: a forced logout refuses tokens issued in
//     the same second as well, and a clock jumping back can make a token
//     look not yet valid (it is refused, never accepted early).
//   - A clock set back by more than a token's lifetime after a sweep of
//     revocations makes new tokens expire before that sweep's time: they
//     are refused (fail closed) until the clock has caught up. The sweep
//     runs hourly, so this needs a jump back of over an hour.
//   - MFA challenges live in memory: a restart ends them and the user
//     signs in again.
package token

// Package credential is the pure credential code: password policy and
// hashing (argon2id, and verification of imported bcrypt hashes),
// usernames, TOTP, recovery codes and client secrets. It has no store and
// no clock: time and randomness are passed in, and the password policy is
// a value.
//
// # Passwords
//
// Passwords are never stored or logged: only an argon2id hash in PHC
// string form, with its parameters, so they can be raised later and old
// hashes still verify (NeedsRehash tells the caller to re-hash at the next
// successful login). Verification compares in constant time. Generated
// passwords come from crypto/rand and are shown once by the caller.
// PasswordPolicy refuses passwords outside 12-256 characters, ones that
// contain the username or email, and common ones (an embedded list, also
// padded with digits and symbols or repeated).
//
// # Credential primitives: threat model
//
// The building blocks in this package are pure: no store, no clock, no global randomness (time
// and io.Reader are passed in). What they defend against:
//
//   - A stolen copy of the database. Nothing secret that a user or client
//     presents is stored in a form that can be used: passwords as argon2id
//     hashes; client secrets and recovery codes as HMAC-SHA-256 under a
//     Pepper keyed from the sealed root key, so without the TPM the copy
//     gives nothing to test guesses against. TOTP seeds must be shown to
//     the verifier, so they are the one thing the store encrypts (a sealed
//     field), not hashes.
//   - Offline guessing. Passwords are low-entropy and chosen by people, so
//     they get a slow, memory-hard hash (argon2id, OWASP's parameters or
//     higher). Client secrets (256 random bits) and recovery codes (50
//     random bits, and only with the pepper key) cannot be guessed, so a
//     fast keyed MAC is enough, and it keeps a client_credentials grant at
//     microseconds where argon2id would cost 20 ms and 19 MiB each.
//   - Memory exhaustion by a flood of logins. A Hasher admits argon2id
//     work only while it fits a memory budget; the rest wait with their
//     request's context and give up when it ends.
//   - Timing. Hashes, codes and MACs are compared in constant time, and
//     against every candidate with no early exit (a rotated application's
//     two secrets, a user's ten recovery codes, TOTP's three steps), so the
//     timing does not say which matched. A login for an unknown username
//     runs DummyVerify, as costly as a real verification, so it does not
//     reveal which usernames exist.
//   - Replay and guessing of TOTP codes. A code is accepted for one step
//     either side of the server's clock, never more, and never for a step
//     at or before the last one accepted (the caller stores the step
//     VerifyTOTP returns). Online guessing of the 10^6 codes is bounded by
//     the caller's lockout, which counts MFA failures too.
//   - Leaks through logs and answers. ClientSecret prints "[redacted]" and
//     refuses to marshal; errors name the rule that failed and never echo
//     a password, a code or even a rejected username (people type
//     passwords into username fields).
//   - Look-alike and duplicate accounts. CanonicalUsername folds case and
//     width and then allows only a-z 0-9 . _ @ + -, so two accounts never
//     differ only by case or by a homoglyph. CheckNewUsername keeps a new
//     user's name out of the forms of record IDs and client IDs, so a user
//     cannot be named after an application or another record and be
//     mistaken for it where commands take either.
//   - Credentials moved in from Lerian (accessctl import; bcrypt.go). An
//     imported client secret keeps its value (services are not re-keyed)
//     but is stored like accessd's own, as the pepper's HMAC; only secrets
//     of 32 to 256 printable characters are taken, as too random to guess
//     (Lerian's are UUIDs). An imported bcrypt hash is verified (cost
//     capped at 14, so a record cannot make a sign-in cost minutes) and
//     re-made as argon2id at its owner's first sign-in. The import file's
//     secrets have no printable form once parsed.
//
// What they do not defend against: a compromised running daemon (it holds
// the pepper key and sees passwords as they arrive); an attacker holding
// both the database and the unsealed root key, who can then brute-force
// recovery codes (2^50 MACs each) and weak passwords; and timing
// differences between users whose hashes have different parameters (or
// are imported bcrypt hashes), until they next log in and are re-hashed.
// Zeroing with clear() is best effort: Go may have copied the bytes, and
// strings cannot be cleared.
package credential

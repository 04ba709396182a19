// Package identity holds users, groups, applications and their
// credentials.
//
// # Passwords
//
// Passwords are never stored or logged: only an argon2id hash in PHC
// string form, with its parameters, so they can be raised later and old
// hashes still verify. Verification compares in constant time. Generated
// passwords come from crypto/rand and are shown once by the caller.
package identity

// Package policy is platform data as code: `accessctl apply -f
// policy.toml` sends a TOML file naming groups, their permissions and
// their members, and the daemon makes those groups match the file.
//
// Parse reads the file strictly; Plan compares it with the groups as
// they are and returns the typed changes that make each named group match
// the file exactly: created when missing, its description set, missing
// grants and members added, and grants and members the file does not list
// removed, so that revocation is code too. Groups the file does not name
// are left alone. Applying a plan and planning again yields nothing, so
// a second apply of the same file changes nothing. Applier.Apply runs the
// whole plan in one store transaction with its audit entry, or nothing
// of it, and then brings the permission index up to date; with dry run
// it only reports the plan.
//
// # Threat model
//
// The file is untrusted bytes from the admin socket (any member of
// accessd-admin, or a CI job acting as one). Parse bounds it (1 MiB,
// 10,000 groups), refuses unknown keys, wrong types and duplicate group
// names with the key and line, and validates every name, member, product,
// resource and action, so a typo cannot become a silent no-op or an
// unintended wildcard. Errors wrap the api catalogue (ErrBadRequest,
// ErrUnknownField, ErrInvalidField, ErrTooLarge).
//
// It does not defend against a file that is valid and wrong: a file that
// lists admin-group with an extra member grants it. Review belongs to the
// change process around the file (and the plan printed by --dry-run). It
// does not resolve members to records while planning: "user:alice" is
// compared as written, so Apply canonicalises usernames (and refuses
// unknown ones) on both sides before planning.
package policy

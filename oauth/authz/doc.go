// Package authz is accessd's permission model and its in-memory index:
// the Permission type and its normal form (Normalize), the product rules
// (ValidProduct, lib-auth's role subject, which product a decision asks
// about), and the index that answers "may subject S do action A on
// resource R of product P?" for /v1/authorize and lists a subject's
// effective permissions for /v1/permissions and the access review.
// api.Permission is a permission's JSON form on the wire.
//
// # Invariants
//
//   - Deny by default. A subject the index does not know, a group that was
//     named but never defined with SetGroup, an empty resource or action:
//     all are denied. Nothing is allowed unless a permission of one of the
//     subject's groups matches.
//   - Allow-only. There are no deny rules, so the order in which groups
//     and permissions were added never changes a decision.
//   - No store reads on decisions. The identity service feeds the index
//     (SetGroup, SetSubject, DeleteGroup, DeleteSubject) inside the code
//     path that commits the change, and a decision reads only memory.
//   - Changes are visible at once: every update has taken effect for every
//     decision that starts after the update call returns.
//   - Revocation is exact: after SetGroup with fewer permissions,
//     DeleteGroup, or SetSubject without a group, nothing the index still
//     holds grants what was removed. A deleted group that is created again
//     does not come back to its old members.
//
// # Matching
//
// A stored permission (Product, Resource, Action) is first normalised:
// the action is lower-cased, and a resource written with a product prefix
// ("midaz/accounts" with no Product, or with Product "midaz") means
// resource "accounts" of product "midaz". A request (product P, resource
// R, action A) then matches when
//
//   - the permission's product is empty (any product), or equals P; a
//     request without a product matches only permissions without one (and
//     without a prefix), so product-scoped grants never leak to callers
//     that do not say which product they act on;
//   - the permission's resource is "*" or equals R exactly (requests are
//     never split at "/");
//   - the permission's action is "*" or equals A ignoring case.
//
// Products and resources are compared exactly, case-sensitively.
//
// # Memory
//
// The index must hold a million subjects inside a daemon whose whole idle
// RSS target is 96 MiB, so it stores per subject only a 16-byte UUID key
// and a 4-byte id of an interned group set: most subjects share a few
// combinations of groups. Group names are interned to small integers, and
// each group's permissions are compiled once into a lookup table shared
// by every set that contains the group. Subject IDs that are not
// lower-case canonical UUIDs are kept, exactly as given, in a second map.
//
// # What it does not defend against
//
// The index trusts its caller: it does not check that a subject exists in
// the store, that a token is valid or that a token's subject is the one
// asking. Those belong to oauth/token and the /v1/authorize handler. An
// index that is never fed denies everything; it does not fail open.
package authz

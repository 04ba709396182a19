package directory

// IdentityProduct is the product the Identity routes decide on: the
// seeded identity permissions are granted in it, so an identity editor
// is allowed nothing in any other product (a grant without a product
// still applies to every product, Lerian's rule).
const IdentityProduct = "identity"

// Resources are the resources the Identity routes check on the data
// plane, each decided in IdentityProduct. GET /v1/permissions lists them
// beside a product's resources, so that Lerian's console shows its
// Users and Settings pages to exactly the callers these routes let in.
var Resources = []string{"applications", "groups", "providers", "reset-password", "update-password", "users"}

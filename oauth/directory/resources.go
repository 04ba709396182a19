package directory

// Resources are the resources the Identity routes check on the data
// plane, each decided without a product. GET /v1/permissions lists them
// beside a product's resources, so that Lerian's console shows its
// Users and Settings pages to exactly the callers these routes let in.
var Resources = []string{"applications", "groups", "providers", "reset-password", "update-password", "users"}

// Package token will hold the OAuth 2.0 grants, client authentication,
// signing keys and JWKS, introspection, revocation and discovery (DESIGN
// §1). Today it holds only the [tokens] table of the config, so that the
// policy of the tokens lives with the code that will issue them.
package token

// Package api holds the JSON types of accessd's two planes, shared by the
// daemon and accessctl, and the error catalogue: one Fault per kind of
// failure, with its HTTP status, Lerian AUT code and OAuth error code.
// Domain packages wrap Faults as sentinel errors; WriteError, at the HTTP
// edge, is the one place they become status codes. DecodeJSON is the one
// strict decoder of request bodies. It imports only the standard library,
// so the CLI can use it without pulling in the server.
//
// Field names are camelCase, as Lerian's Access Manager writes them.
package api

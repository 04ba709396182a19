// Package libauthtest proves accessd against Lerian's own client library:
// lib-auth v2.9.0 (what Midaz imports), unchanged, runs its Fiber
// Authorize middleware and GetApplicationToken against a real accessd
// serve --dev, built from this repository, over real TLS.
//
// It is a module of its own so that lib-auth and everything it pulls in
// (Fiber, OpenTelemetry, gRPC) never enter accessd's go.mod. Run it from
// this directory: go test -count=1 ./...
package libauthtest

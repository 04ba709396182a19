// Package api holds the JSON types of accessd's two planes, shared by the
// daemon and accessctl. It has no behaviour, so the CLI can import it
// without pulling in the server.
//
// Field names are camelCase, as Lerian's Access Manager writes them.
package api

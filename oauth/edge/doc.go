// Package edge is the HTTP edge of both planes: every route of the data
// plane (TLS) and of the admin plane (the Unix socket) is registered
// here, beside the planes, and nowhere else. A handler decodes the
// request, asks the room that owns the job (directory, login, token, the
// permission index), and writes the answer or the catalogue's error of
// oauth/api. /v1/authorize composes the token verifier with the
// permission index.
//
// The daemon calls Data and Admin once each, handing over the rooms in
// Planes. Who is calling is decided in auth.go and nowhere else in the
// edge: the admin socket's caller by Planes.AdminActor (the listener's
// peer check is the authorization), a data-plane caller by a verified
// bearer whose permissions the index decides.
//
// Threat model: everything a request carries is untrusted here; bodies
// are size-limited and decoded strictly before any room sees them. Who
// the caller is comes only from the plane: the peer check on the admin
// socket, a verified bearer on the data plane. A route a user may use on
// itself resolves the path's {id} to one user record before the check and
// compares that record's ID with the caller's (identity_self.go), so no
// record named after the caller's ID passes for the caller.
package edge

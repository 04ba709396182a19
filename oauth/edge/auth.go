package edge

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/token"
)

// Who is calling, and may they: the checks of both planes, in one place.
// On the admin socket the listener's peer check is the authorization and
// Planes.AdminActor names the caller; on the data plane a verified
// bearer names it and the permission index decides.

// auth is the data plane's bearer check and permission decision.
type auth struct {
	tokens *token.Server
	index  Index
}

// bearer is the data plane's bearer check for the Identity routes: the
// caller's actor, with its client and its sign-in as its refresh family
// recorded them.
func (a auth) bearer(r *http.Request) (change.Actor, error) {
	tok := bearerOf(r)
	if tok == "" {
		return change.Actor{}, fmt.Errorf("token: %w: send an access token in the Authorization header", api.ErrTokenMissing)
	}
	p, err := a.tokens.Presented(tok, peerCert(r))
	if err != nil {
		return change.Actor{}, err
	}
	return a.tokens.WithSession(p.Actor(sourceOf(r)), p), nil
}

// identityAllowed decides a bearer's permission on an Identity resource,
// which the Identity routes decide in product identity: a grant in
// another product never reaches them, nor an identity grant another
// product.
func (a auth) identityAllowed(id, resource, action string) bool {
	return a.index.Allowed(id, directory.IdentityProduct, resource, action)
}

// bearerOf is the access token of a request: `Authorization: Bearer T`, or
// the bare token lib-auth sends after stripping "Bearer ".
func bearerOf(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		h = strings.TrimSpace(h[7:])
	}
	if strings.ContainsAny(h, " \t") {
		return "" // another scheme (Basic …), or not one token
	}
	return h
}

// sourceOf is the audit source of a request: the peer's address.
func sourceOf(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// peerCert is the client certificate TLS verified, nil without one.
func peerCert(r *http.Request) *x509.Certificate {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return r.TLS.VerifiedChains[0][0]
	}
	return nil
}

// adminRoutes are the admin plane's own routes (signing keys, field
// keys, backup).
type adminRoutes struct{ p Planes }

// as names the admin-socket caller before h runs, or answers the
// failure.
func (a adminRoutes) as(h func(w http.ResponseWriter, r *http.Request, who change.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, err := a.p.AdminActor(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		h(w, r, who)
	}
}

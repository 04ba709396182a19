package token

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/identity"
)

// tokenRequest is a token request from either face, normalised.
type tokenRequest struct {
	ctx          context.Context
	grantType    string
	clientID     string
	clientSecret []byte // nil: none presented
	username     string
	password     []byte
	refreshToken string
	scope        string
	nonce        string // for the ID token; checked by checkNonce
	// cert is the client certificate TLS verified against tls.client_ca,
	// nil without one.
	cert   *x509.Certificate
	source string
}

func (r *tokenRequest) clear() {
	clear(r.clientSecret)
	clear(r.password)
}

// grant is one OAuth grant type: one file and one type each.
type grant interface {
	issue(r *tokenRequest) (*issued, error)
}

// Token runs a token request through its grant.
func (s *Server) token(r *tokenRequest) (*issued, error) {
	defer r.clear()
	g, ok := s.grants[r.grantType]
	if !ok {
		if r.grantType == "" {
			return nil, fmt.Errorf("token: %w: grantType is required", api.ErrMissingFields)
		}
		return nil, fmt.Errorf("token: %w: %q; use client_credentials, password or refresh_token", api.ErrUnsupported, r.grantType)
	}
	out, err := g.issue(r)
	result := "ok"
	switch {
	case err == nil && out.mfaToken != "":
		result = "mfa-required"
	case errors.As(err, new(*ErrRateLimited)):
		result = "rate-limited"
		s.metrics.limited.WithLabelValues(r.grantType).Inc()
	case errors.Is(err, identity.ErrAccountLocked):
		result = "locked"
		s.metrics.lockouts.Inc()
	case err != nil:
		result = "refused"
	}
	s.metrics.issued.WithLabelValues(r.grantType, result).Inc()
	return out, err
}

// client authenticates the client of a request, if it presented any
// credentials: a secret (Basic header, form or JSON body) or, with a
// client_id and no secret, the certificate TLS verified (tls_client_auth,
// RFC 8705). It returns nil without credentials.
//
// Failures are limited per source address (over the limit: 429 before
// any check) and per client ID: over that one, the credentials are still
// checked, a right one passes (so nobody can lock a service out by
// failing in its name), and a wrong one is answered 429 and counted
// instead of audited one by one.
func (s *Server) client(r *tokenRequest) (*identity.Client, error) {
	if r.clientSecret == nil && (r.clientID == "" || r.cert == nil || r.clientID == s.cfg.DefaultClient) {
		return nil, nil
	}
	if err := s.limits.failedAddr.check(r.source); err != nil {
		s.metrics.limited.WithLabelValues("client-auth-address").Inc()
		return nil, err
	}
	a := identity.Actor{Name: "client:" + r.clientID, Source: r.source}
	overBudget := s.limits.failedClient.check(r.clientID)
	var cl identity.Client
	var err error
	switch {
	case r.clientSecret != nil && overBudget != nil:
		var ok bool
		if cl, ok = s.id.CheckClientSecret(r.clientID, r.clientSecret); !ok {
			err = overBudget
		}
	case r.clientSecret != nil:
		cl, err = s.id.AuthenticateClient(r.ctx, a, r.clientID, r.clientSecret)
	default:
		cl, err = s.id.AuthenticateCertificate(r.ctx, a, r.clientID, r.cert)
	}
	if err != nil {
		s.limits.clientAuthFailed(r.clientID, r.source)
		if errors.As(err, new(*ErrRateLimited)) {
			s.metrics.limited.WithLabelValues("client-auth").Inc()
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errInvalidClient, err)
	}
	return &cl, nil
}

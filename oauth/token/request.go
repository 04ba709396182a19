package token

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/login"
)

// Request is a token request from either face (RFC 6749's form, Lerian's
// JSON), normalised by the HTTP edge.
type Request struct {
	GrantType    string
	ClientID     string
	ClientSecret []byte // nil: none presented
	Username     string
	Password     []byte
	RefreshToken string
	Scope        string
	Nonce        string // for the ID token; checked by checkNonce
	// Cert is the client certificate TLS verified against tls.client_ca,
	// nil without one.
	Cert   *x509.Certificate
	Source string
	// RefreshBearer lets a refresh token stand for its client: Lerian's
	// refresh body carries only refreshToken. Without it (RFC 6749's
	// face) a token of a confidential client refreshes only with that
	// client authenticating again.
	RefreshBearer bool
}

// Clear zeroes the secrets of the request (best effort: copies the
// decoder made are out of reach).
func (r *Request) Clear() {
	clear(r.ClientSecret)
	clear(r.Password)
}

// Issued is what a grant produced: tokens, or an MFA challenge.
type Issued struct {
	Access    string
	ExpiresIn int64
	Refresh   string
	Scope     string
	MFAToken  string
	MFATTL    int64
	MFATypes  []string
	IDToken   string
}

// grant is one OAuth grant type: one file and one type each, holding only
// its collaborators.
type grant interface {
	issue(ctx context.Context, r *Request) (*Issued, error)
}

// Token runs a token request through its grant, and clears its secrets.
func (s *Server) Token(ctx context.Context, r *Request) (*Issued, error) {
	defer r.Clear()
	g, ok := s.grants[r.GrantType]
	if !ok {
		if r.GrantType == "" {
			return nil, fmt.Errorf("token: %w: grantType is required", api.ErrMissingFields)
		}
		return nil, fmt.Errorf("token: %w: %q; use client_credentials, password or refresh_token", api.ErrUnsupported, r.GrantType)
	}
	out, err := g.issue(ctx, r)
	result := "ok"
	switch {
	case err == nil && out.MFAToken != "":
		result = "mfa-required"
	case errors.As(err, new(*ErrRateLimited)):
		result = "rate-limited"
		s.metrics.limited.WithLabelValues(r.GrantType).Inc()
	case errors.Is(err, login.ErrAccountLocked):
		result = "locked"
		s.metrics.lockouts.Inc()
	case err != nil:
		result = "refused"
	}
	s.metrics.issued.WithLabelValues(r.GrantType, result).Inc()
	return out, err
}

// AuthenticatedClient is the client an introspection or revocation
// request authenticated as.
type AuthenticatedClient struct {
	ID       string // record ID: the permission index's subject
	ClientID string
}

// AuthenticateClient authenticates the client of an introspection or
// revocation request, which both require.
func (s *Server) AuthenticateClient(ctx context.Context, r *Request) (AuthenticatedClient, error) {
	defer r.Clear()
	cl, err := s.clients.authenticate(ctx, r)
	if err == nil && cl == nil {
		err = errNoClient
	}
	if err != nil {
		return AuthenticatedClient{}, err
	}
	return AuthenticatedClient{ID: cl.ID, ClientID: cl.ClientID}, nil
}

// errInvalidClient marks a failed client authentication, which RFC 6749
// answers as invalid_client with 401.
var errInvalidClient = errors.New("invalid client")

// errNoClient is a grant or endpoint that needs client authentication
// and got none.
var errNoClient = fmt.Errorf("token: %w: client authentication is required for this grant", api.ErrUnauthorized)

// InvalidClient reports whether err is a failed or missing client
// authentication, which RFC 6749 answers as invalid_client with 401.
func InvalidClient(err error) bool {
	return errors.Is(err, errInvalidClient) || errors.Is(err, errNoClient)
}

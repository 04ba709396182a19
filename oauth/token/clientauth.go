package token

import (
	"context"
	"errors"
	"fmt"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/login"
)

// clientAuth authenticates the client of a token request, under the
// failure budgets of the source address and of the client ID.
type clientAuth struct {
	ids           ClientAuthenticator
	failedAddr    *keyed
	failedClient  *keyed
	metrics       *Metrics
	defaultClient string
}

// authenticate authenticates the client of a request, if it presented
// any credentials: a secret (Basic header, form or JSON body) or, with a
// client_id and no secret, the certificate TLS verified
// (tls_client_auth, RFC 8705). It returns nil without credentials.
//
// Failures are limited per source address (over the limit: 429 before
// any check) and per client ID: over that one, the credentials are still
// checked, a right one passes (so nobody can lock a service out by
// failing in its name), and a wrong one is answered 429 and counted
// instead of audited one by one.
func (c *clientAuth) authenticate(ctx context.Context, r *Request) (*login.Client, error) {
	if r.ClientSecret == nil && (r.ClientID == "" || r.Cert == nil || r.ClientID == c.defaultClient) {
		return nil, nil
	}
	if err := c.failedAddr.check(r.Source); err != nil {
		c.metrics.limited.WithLabelValues("client-auth-address").Inc()
		return nil, err
	}
	a := change.Actor{Name: "client:" + r.ClientID, Source: r.Source}
	overBudget := c.failedClient.check(r.ClientID)
	var cl login.Client
	var err error
	switch {
	case r.ClientSecret != nil && overBudget != nil:
		var ok bool
		if cl, ok = c.ids.CheckClientSecret(r.ClientID, r.ClientSecret); !ok {
			err = overBudget
		}
	case r.ClientSecret != nil:
		cl, err = c.ids.AuthenticateClient(ctx, a, r.ClientID, r.ClientSecret)
	default:
		cl, err = c.ids.AuthenticateCertificate(ctx, a, r.ClientID, r.Cert)
	}
	if err != nil {
		_ = c.failedAddr.take(r.Source)
		_ = c.failedClient.take(r.ClientID)
		if errors.As(err, new(*ErrRateLimited)) {
			c.metrics.limited.WithLabelValues("client-auth").Inc()
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errInvalidClient, err)
	}
	return &cl, nil
}

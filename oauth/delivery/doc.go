// Package delivery sends the one-time codes of the e-mail and SMS second
// factors: over SMTP to a relay (Relay) and over HTTPS to an SMS gateway
// (Gateway). Relay and Gateway know nothing of users or the store.
//
// Providers administers the providers (create, update, test, delete, the
// default of each category and of each application) over the store, and
// Send opens a provider's secret, builds a Relay or Gateway for one
// message and forgets it. A provider's secret is sealed to its record and
// never returned; which provider delivers is chosen (the sign-in
// application's default, else the category's), never an accident of
// order. Providers are shared by every tenant, so only the admin socket
// or a bearer without a tenant changes them (the directory decides, see
// Directory).
//
// # Invariants
//
//   - TLS is required: a Relay speaks STARTTLS (refusing a relay that
//     does not offer it) or implicit TLS, a Gateway speaks HTTPS. The
//     peer's certificate is verified against the configured CA or the
//     system roots, with TLS 1.2 at least. InsecureSkipVerify is never
//     set.
//   - Credentials go only over TLS: AUTH is sent after the TLS handshake,
//     and a relay reached without TLS gets no AUTH at all (Send fails
//     instead when a secret is configured).
//   - Plaintext is an explicit opt-in (Insecure, the provider's
//     disableSsl), logged at warning level at every use.
//   - Every send is bounded by its context; callers give it a deadline
//     and never hold a store transaction while sending.
//   - The recipient, the message and the secret never reach a log line
//     or an error string from this package: errors name the provider,
//     the step and the peer's status code. A test send answers
//     "delivered" or a fixed class of failure (Class), never the peer's
//     words, which could reflect an internal service.
//   - A stored secret goes only where, and how, it was entered for: a
//     change of url, host, port, type, TLS, CA, authHeader or clientId
//     needs the secret again in the same request (refused otherwise).
//   - Connections go only where Destinations allows, decided on the
//     address dialled, after resolution: never loopback, link-local,
//     unspecified, multicast or the daemon's own listen address unless
//     [delivery] allow_hosts lists it. The data plane sets destinations
//     inside allow_hosts only, and never sets disableSsl.
//   - Sends are rate-limited per provider, destination and (test sends)
//     caller, all or nothing, and counted in Metrics (limits.go).
//
// # What it does not defend against
//
// A host name listed in allow_hosts is trusted whatever it resolves to.
// Failure classes still tell an allowed destination's open port from a
// closed one.
//
// A relay or gateway that is trusted (its certificate verifies) sees the
// recipient and the code: that is its job. A site that opts out of TLS
// exposes both, and the relay's credentials are then never sent. The
// secret is held in a Go string for the SASL library (best effort only:
// it cannot be cleared).
package delivery

// Package daemon turns the sealed store into a service: it reads the
// config, checks the host, unseals the root key, opens the store, serves the
// two planes and talks to systemd.
//
// # Start-up order
//
// config → lockdown checks (refuse on failure in enforce mode, unless --dev)
// → open TPM → unseal root key → open store → rollback check against the
// TPM's NV counter, then advance it → bind or take listeners (socket
// activation first) → READY=1 → watchdog pings. Nothing is unsealed before
// the host has been checked. Stop: STOPPING=1, drain in-flight requests for
// a bounded time, chain the last audit entries, advance the rollback
// counter, close the store, zero the keys.
//
// # Rollback detection
//
// The store is bound to the TPM's NV rollback counter (see
// daemon/internal/rollback for the protocol and what it does not detect):
// the counter moves on at every start and every clean stop, so a copy of
// the data dir taken at any time is behind the counter once accessd has
// stopped or started again. A start whose store is behind, or whose TPM
// has no counter or one behind the store, is refused with ErrRollback
// (exit 6); `accessd recover --accept-rollback` binds the store to the
// counter as it is, with the recovery key and an audit entry; `accessd
// init` binds a new store, `accessd restore` a restored one (see
// daemon/ceremony). A store from before rollback detection is bound at
// its first start, unless this TPM's counter was used already. Under
// --dev it is off: the simulator forgets its NV when the process ends.
// The counter advances only when no request is served (before listening,
// after draining).
//
// # Planes
//
// The data plane is TLS on TCP (1.2 minimum, AEAD suites only, client
// certificates verified against tls.client_ca when set). The admin plane is
// a Unix socket, mode 0660 and the admin group, where every connection is
// checked again with SO_PEERCRED: root, the daemon's own user and members of
// the admin group (primary or supplementary, as SO_PEERGROUPS reports) pass,
// whatever the file mode says; anyone else gets a 403 without the request
// reaching a handler, and the refusal is logged. Refusals are bounded (16
// answered at once, the rest hung up) and each check runs off the accept
// loop, so a slow account lookup cannot stall other admins.
//
// Every HTTP server has header, read, write and idle timeouts, a header
// size limit and a 1 MiB body limit, so a slow or huge client costs a
// bounded amount.
//
// # Secrets
//
// The root key lives only between unseal and store open, then is zeroed
// (best-effort: Go may have copied it). One-time secrets made by a first
// --dev run's init (the recovery key, the admin's password) go to the
// caller's writer, never to the log. The key ceremonies (init, recover,
// reseal, rekey-recovery, restore, accept-rollback) are in
// daemon/ceremony; the data dir's layout, lock and markers, which serve
// and they share, in daemon/internal/datadir.
package daemon

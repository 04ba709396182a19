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
// The store records the value of the TPM's rollback counter
// (seal.CounterIndex) it last saw (store.TPMCounter); the counter moves on
// at every start and every clean stop, so a copy of the data dir taken at
// any time is behind the counter once accessd has stopped or started
// again. A start whose store is behind is refused with ErrRollback (exit
// 6), and so is one whose TPM has no counter or a counter behind the store
// (a cleared, replaced or rolled-back TPM): nothing vouches for the store
// then. `accessd recover --accept-rollback` binds the store to the counter
// as it is, with the recovery key and an audit entry; `accessd init` binds
// a new store, `accessd restore` a restored one (BindRollbackCounter). A
// store from before rollback detection is bound at its first start,
// unless this TPM's counter was used already. Under --dev it is off: the
// simulator forgets its NV when the process ends.
//
// Each advance writes the intent to the store (Value c, Next c+1, fsynced)
// before TPM2_NV_Increment, and the new value after it. A crash can
// therefore leave the counter at c (before the increment) or at c+1 (after
// it, before the confirmation), and the store says {c, c+1} in both cases;
// the check accepts store.Value == counter, or store.Next == counter, and
// nothing else. Recording the new value only after the increment, with no
// intent, would brick the service on a crash in between (store c, counter
// c+1: indistinguishable from a copy one step old). The tolerance is
// exactly one increment, taken when no request is served (before
// listening, after draining), so it lets back nothing that the case below
// does not already.
//
// Not detected: a copy taken while accessd runs and put back after a crash
// (no clean stop) and before the next start; the counter is not moved per
// write, to spare the TPM's NV (see the seal package on wear).
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
// (best-effort: Go may have copied it). One-time secrets made by init (the
// recovery key, the admin's password) go to the caller's writer, never to
// the log.
package daemon

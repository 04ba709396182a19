// Package ceremony holds accessd's offline key ceremonies: init, recover,
// reseal, rekey-recovery (start, --finish, --abort, recover --check-key),
// restore and recover --accept-rollback. Each runs with the service
// stopped (rekey-recovery excepted: it touches neither the TPM nor the
// store), on a data dir it locks for its whole run (see datadir.Lock), and
// each ends in a state the next command accepts, whatever step it is
// killed at.
//
// # Threat model
//
// The root key is in memory only inside a ceremony, after the process is
// hardened (no core dumps, memory locked), and is zeroed when it ends
// (best-effort: Go may have copied it). One-time secrets (the recovery key
// or its shares, the admin's password) go to the caller's writer once,
// after everything they unlock is durable, never to the log; errors never
// quote a recovery key or share.
//
// Authority: whoever holds the recovery key (or a threshold of its shares)
// may re-seal the root key to another TPM (recover), build a data dir from
// a backup (restore), bind a store to the TPM's rollback counter as it is
// (accept-rollback, which brings back records deleted since) and replace
// the recovery key (rekey-recovery). Each of these proves the key against
// this data dir first (the store opens with the unwrapped root key, or
// the backup's tag verifies under it), so a recovery file or backup from
// another install cannot overwrite a working one, and each rollback
// binding is an audit entry in the same transaction.
//
// Crash safety: init marks the data dir (init.pending) before it creates
// anything and clears the mark only after the secrets are shown; restore
// does the same with .restore-unfinished; both start over in a marked data
// dir, and every other command refuses it. rekey-recovery writes the old
// and the new wrap side by side and keeps both until the operator proves
// they hold the new key. The crash tests in cmd/accessd kill each ceremony
// at every durable step (ACCESSD_TEST_CRASH_AT, see killatstep.go).
//
// Not defended against: an attacker who holds the recovery key; a
// recovery key shown on a terminal that is recorded.
package ceremony

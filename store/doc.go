// Package store is accessd's encrypted record store: an embedded Badger
// database holding users, groups, applications, refresh-token families,
// signing keys and audit entries, one narrow repository per kind of
// record.
//
// # Layout
//
// Three layers, the lower two packages of their own:
//
//   - the engine (store/internal/engine): the Badger database, the close
//     lock, the write gates (Options.AllowWrite, AllowBulkWrite), the
//     retry loop of optimistic transactions and the group sync that
//     answers a commit only once it is on stable storage. A lone
//     committer syncs at once; a sync gathers only while other commits
//     are in flight, at most 10 ms.
//   - the barrier (store/internal/barrier): the keys derived from the
//     root key, the record MACs, sealed fields and the field keyring,
//     the backup stream's crypto and the container tag. Its consumers
//     reach it through Store.Barrier (keys.go), which also walks the
//     records for a field-key rotation (rotate.go); Sum, the pepper,
//     stays on Store because every keyed hash of a secret takes the
//     store as its Pepper.
//   - the repositories (table.go and one file per kind of record) over
//     both, each call its own transaction or joined to a Tx.
//
// Audit entries are staged in a Tx (Tx.Audit) with the change they
// record, each under a key time asked of the AuditClock the host gave
// (Options.Audit: store/audit's Queue, which also schedules the chain
// writer): that transactional staged append is all the store does for
// the audit log. The chain writer in store/audit reaches the staged
// entries and a transaction confined to the audit log's keyspace
// through Store.AuditLog; chaining, retention and verification are its
// own.
// Layout migrations run at Open (migration).
//
// # Keys
//
// The store is handed the 32-byte root key and never learns how it was
// unsealed; the barrier derives Badger's master key, the field keyring,
// the backup key, the record MAC key and the pepper from it with
// HKDF-SHA-256 (the labels are in the barrier's documentation). Open
// keeps no copy of the root key. Close clears the derived keys, as far as
// Go lets it.
//
// # Secret fields
//
// Secrets that must be recovered (TOTP seeds, signing private keys) are
// additionally sealed with AES-256-GCM under the active term of the field
// keyring (Sealed), with the record key and field name as additional
// data, so that a ciphertext copied into another record or field does not
// open. RotateFieldKey starts a new term; older terms still open.
// RotateFields (rotate.go) starts a new term, re-seals every sealed field
// under it online in batches, then retires the older terms: from then on
// they open nothing in this store, and no write may put a field under
// them back. Retirement lives in the store's metadata, so a backup taken
// earlier restores with the terms it had. What is
// only ever verified (passwords, client secrets, refresh tokens, recovery
// codes) is stored as a hash made by the caller, never sealed.
//
// # Records and concurrency
//
// Records are JSON values under "<kind>/<id>", each followed by an
// HMAC-SHA-256 tag over its key and value (Badger's own encryption is
// AES-CTR with CRC checksums: confidential, not authenticated), so a
// flipped bit or a value moved under another key reads as ErrCorrupt. Secondary indexes
// (username, folded e-mail address, client ID, refresh-token hashes,
// subject of a refresh family)
// are kept in the same Badger transaction as their record, so they are
// never stale or dangling. Every record carries a Version that the store
// bumps on each write. Updates are read-modify-write closures
// (UserRepo.Update): a stale Version yields ErrConflict, and a transaction
// that loses to a concurrent writer is retried on fresh data. Writes are
// fsynced before they return (the engine: concurrent commits share one
// sync of Badger's logs): an acknowledged write survives
// a crash of the process or the host.
//
// # Invariants
//
//   - Nothing written to the data directory is plaintext: records,
//     indexes and metadata are all inside Badger's encryption (a test
//     greps every file for known values, open and after Close).
//   - A unique index value (case-folded username, folded e-mail address,
//     client ID, token hash) belongs to at most one record, and a
//     username is no other user's address nor an address another's
//     username (addresses shared before layout 3 are marked instead of
//     indexed); the audit log has no gaps.
//   - Record values, field plaintexts and key material never appear in an
//     error string or a log line. Errors name the kind of record and its ID; Badger's
//     own log is passed through at warning level and above, which carries
//     file names and levels, not values.
//
// # Threat model
//
// Defends against: theft of the data directory, its backups or the disk
// (everything is ciphertext under a key sealed to the TPM); altering
// stored values or moving them between keys (per-value HMAC, ErrCorrupt);
// altering, truncating or reordering a backup stream (chunked GCM,
// ErrBadBackup); putting a stream under another container header than
// the one it was written for (BackupBound: every chunk authenticates the
// caller's binding; version-1 streams had none and are still read, only
// unbound); moving a sealed secret between records or fields to have
// it served under another identity (GCM with record and field as AAD); a
// crash at any moment losing an acknowledged write (group sync; a test
// SIGKILLs a writer repeatedly).
//
// Does not defend against: an attacker who can read the daemon's memory
// or ptrace it (keys and decrypted records are in the heap while it
// runs); deleting records, or rolling a record or the whole directory
// back to an older valid state made under the same root key (neither
// Badger nor the MACs can tell; the daemon catches a rollback of the
// whole directory by comparing the TPMCounter record with the TPM's NV
// counter at start, see daemon/rollback.go); damage to Badger's own structures beyond what its block
// checksums catch (the store then fails to open or returns errors; restore
// from a backup); traffic analysis of record sizes and write timing.
// Keys (IDs, usernames, client IDs, token hashes) are inside Badger's
// encryption on disk but may appear in Badger's own warnings.
package store

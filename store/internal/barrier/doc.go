// Package barrier is the cryptographic barrier of accessd's store: every
// key derived from the root key, the record MACs, the field keyring that
// seals secret fields, and the crypto of backup streams and of the tag
// that binds a backup's container to them. It holds no records and
// starts no transaction: the store's repositories call it inside theirs.
//
// # Keys
//
// The barrier is handed the 32-byte root key and never learns how it was
// unsealed. It derives, with HKDF-SHA-256 and no salt:
//
//	HKDF(root, "badger")  Badger's master key: every table, memtable log and
//	                      value-log entry on disk is AES-256 encrypted
//	HKDF(root, "fields")  the field keyring: term n's key is
//	                      HKDF(fields, "accessd fields term <n>")
//	HKDF(root, "backup")  the backup key; each stream derives its own key
//	                      from it and a random salt
//	HKDF(root, "records") the HMAC-SHA-256 key that makes every stored
//	                      value tamper-evident and bound to its key
//	HKDF(root, "pepper")  the key of the store's Sum, the keyed hash that
//	                      high-entropy secrets are stored as
//
// Derive keeps no copy of the root key. Wipe clears the derived keys.
// That is best-effort: the Go runtime may have copied bytes while moving
// memory, AES key schedules live inside crypto/aes out of reach, and
// Badger holds its own data keys until they are collected.
//
// # Secret fields
//
// Secrets that must be recovered (TOTP seeds, signing private keys) are
// sealed with AES-256-GCM under the active term of the field keyring
// (Sealed), with the record key and field name as additional data, so
// that a ciphertext copied into another record or field does not open.
// Terms only grow (Advance); Retire makes a term and every one below it
// open nothing. Which term is active, the floor of writes and the retired
// term are the store's metadata, kept by its rotation.
//
// # Records
//
// Every value the store puts into Badger is followed by an HMAC-SHA-256
// tag over its key and value (Records), checked on every read: Badger's
// own encryption is AES-CTR with CRC checksums, confidential but not
// authenticated, so a flipped bit or a value moved under another key
// reads as ErrCorrupt.
//
// # Backups
//
// A backup stream is chunked AES-256-GCM under a key of its own per
// stream (backupstream.go); a caller that wraps it in a header
// authenticates the header with BackupTag and binds the stream to it.
//
// # Threat model
//
// Defends against: theft of the data directory, its backups or the disk
// (everything is ciphertext under keys derived from a root key sealed to
// the TPM); altering stored values or moving them between keys (per-value
// HMAC, ErrCorrupt); altering, truncating or reordering a backup stream
// (chunked GCM, ErrBadBackup); putting a stream under another container
// header than the one it was written for (every chunk of a bound stream
// authenticates the caller's binding; version-1 streams had none and are
// still read, only unbound); moving a sealed secret between records or
// fields to have it served under another identity (GCM with record and
// field as AAD); an old field key opening anything after its term was
// retired.
//
// Does not defend against: an attacker who can read the daemon's memory
// or ptrace it (keys and decrypted fields are in the heap while it runs);
// deleting records, or rolling a record or the whole directory back to an
// older valid state made under the same root key (the MACs cannot tell;
// the daemon compares a TPM counter instead); traffic analysis of record
// and field sizes. Plaintexts and key material never appear in an error
// string; a Sealed prints only its term and length.
package barrier

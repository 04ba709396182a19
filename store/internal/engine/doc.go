// Package engine is what accessd's store runs on, beneath its barrier
// and its repositories: the Badger database opened with the store's
// options (BadgerOptions), the close lock, the write gates, the retry
// loop of optimistic transactions, and the group sync that answers a
// commit only once it is on stable storage.
//
// Every write goes through Retry (or BulkRetry): a read-write Badger
// transaction, re-run on fresh data when it loses to a concurrent
// writer, refused before Badger is touched when a gate says so, and
// fsynced before it returns. Badger's own SyncWrites is off; concurrent
// commits share one sync (groupSync): a lone committer syncs at once, a
// sync gathers only while other commits are in flight, at most 10 ms.
// Open removes the log files that a crash left between their creation
// and their header (removeUnbornVlogs), which Badger would otherwise
// refuse to open.
//
// The engine knows nothing of keys beyond the master key Badger encrypts
// with, nor of records: values are whatever the barrier above hands it.
//
// # Threat model
//
// Defends against: a crash of the process or the host at any moment
// losing an acknowledged write (every commit is fsynced, with the
// memtable logs Badger rotated out before the sync, before it is
// answered; a test of package store SIGKILLs a writer repeatedly); a
// crash leaving a header-less log file that would keep the store from
// opening; the disk filling under Badger's memory maps (the write gates
// refuse a write before it is made, not after SIGBUS); use after Close
// (ErrClosed instead of a panic inside Badger).
//
// Does not defend against: tampering with the files (Badger's encryption
// is AES-CTR with CRC checksums; the barrier's record MACs catch
// tampering); damage to Badger's own structures beyond its block
// checksums; a disk that acknowledges an fsync it did not perform.
// Badger's warnings, passed through at warning level and above, carry
// file names, levels and key ranges, never values.
package engine

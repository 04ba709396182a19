// Package datadir is the data dir that serve and the key ceremonies share:
// where its files are, the lock every command that opens it holds, the
// markers an interrupted init or restore leaves, and the TPM its root key
// is sealed to.
//
// # Threat model
//
// Two commands never interleave on one data dir: each holds an exclusive
// flock on <data>/.lock for its whole run, taken before any TPM is touched
// (so a second serve is refused with accessd's own message, not Badger's
// after an unseal). A data dir that holds an unfinished restore or init is
// refused with the command that finishes the job, rather than served:
// its store may be complete while its rollback binding, its audit entry or
// its one-time secrets are not. Nothing here holds a secret; the root key
// is only ever in the ceremonies and in serve, after Harden.
//
// Not defended against: a local root that removes the markers or the lock
// file by hand; the lock is advisory.
package datadir

// Package storetest is the conformance suite of accessd's store: what
// every repository must do (CRUD, unique indexes kept with their records,
// optimistic concurrency under concurrent writers, field sealing bound to
// record and field, key-term rotation, persistence across reopen, and no
// plaintext on disk). It runs against a real store in a temporary
// directory; store's own tests call Run, and so can any future
// implementation or configuration of the store.
//
// The suite writes only synthetic data and needs no network.
package storetest

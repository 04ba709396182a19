// Package storetest is the conformance suite of accessd's store: what
// every repository must do (CRUD, unique indexes kept with their records,
// the group-member index, optimistic concurrency under concurrent
// writers, transactions across repositories that commit all or nothing,
// read-only views, the atomic login counter, audit entries staged with
// their change and chained by store/audit, field sealing bound to record
// and field, key-term rotation, persistence across reopen, and no
// plaintext on disk). It runs against a real store in a temporary
// directory; store's own tests call Run, and so can any future
// implementation or configuration of the store.
//
// Open and OpenDir are the one way other packages' tests (oauth/*) get a
// store: a real one in t.TempDir(), never a fake.
//
// The suite writes only synthetic data and needs no network.
package storetest

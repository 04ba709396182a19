// Package sealtest is the conformance suite every seal.Sealer runs: the
// in-process simulator, swtpm over TCP, and a TPM device when there is one.
//
// It checks the contract the daemon relies on: a sealed root key comes back
// unchanged, across a restart; a key bound to a PCR does not come back after
// that PCR is extended, and the error names the PCR; a file sealed by one
// TPM does not open on another; no single-byte change anywhere in
// root.sealed yields a key; and the recovery file rebuilds root.sealed on a
// replacement TPM.
//
// The suite closes each TPM before it opens the next, so that harnesses
// whose TPM is a process-wide singleton (the simulator) can take part.
package sealtest

// Package seal keeps accessd's root key sealed to the host's TPM 2.0, and
// wrapped by a recovery key for the day the TPM cannot give it back.
//
// # Key management
//
// The root key is 32 random bytes. Everything else accessd protects is
// derived from it (see DESIGN.md, section 2), and it exists in clear only in
// the daemon's memory. On disk it lives in two files:
//
//   - root.sealed: a versioned header followed by a TPM sealed data object
//     created under a transient ECC P-256 storage root key (the TCG
//     reference SRK template, re-derived from the owner hierarchy on every
//     use and flushed afterwards). When PCRs are selected, the object's
//     authorization policy is TPM2_PolicyPCR over the SHA-256 bank, so the
//     TPM releases the key only while those PCRs hold the values they held
//     at sealing time. While a planned change is pending the policy has two
//     branches (see "Planned PCR changes").
//   - root.recovery: the same root key, encrypted with AES-256-GCM under
//     HKDF-SHA-256 of a 256-bit recovery key that is shown once, at
//     `accessd init` (or `accessd rekey-recovery`, which re-wraps the same
//     root key under a new one), and never stored. It can be shown as
//     M-of-N Shamir shares instead (shares.go). A backup carries this file
//     as it is, so the recovery key alone restores it elsewhere. While a
//     rekey is pending it holds two wraps, under the old and the new key
//     (recoverypending.go), and either opens it: a rekey writes the new
//     wrap before it shows the new key and drops the old wrap only when
//     the operator proves holding the new one, so at every instant a key
//     the operator holds opens the file.
//
// # Invariants
//
//   - Only transient objects are created, and each is flushed before the
//     operation returns. A process killed mid-operation cannot flush, so
//     on a TPM without the kernel's resource manager (swtpm, the
//     simulator, a raw /dev/tpmN) Open flushes every transient object and
//     session it finds: each of those serves one client at a time, so
//     nothing loaded then belongs to a live program (Flushed says how
//     many). A TPM whose slots stay full fails with ErrTPMFull, naming
//     tpm2_flushcontext. Persistent handles (0x81xxxxxx, among them
//     systemd's SRK at 0x81000001) are never read, written or evicted. The
//     one NV index accessd touches is its rollback counter at CounterIndex,
//     and only while its public area is exactly the counter's (see below).
//   - The header of root.sealed is authenticated: what the TPM seals is
//     SHA-256(header) || root key, and after unsealing the digest is
//     compared in constant time with the header as read. A change to any
//     byte of the file makes ReadSealedFile fail with ErrTampered,
//     ErrWrongTPM or ErrPCRMismatch; it never returns a different key.
//   - The secret crosses the TPM interface only inside parameter-encrypted
//     sessions salted to the SRK (AES-128-CFB), so a bus or socket
//     observer sees neither the sealed payload nor the unsealed key.
//   - WriteSealedFile unseals what it has just sealed before it replaces the
//     old file, and writes atomically (temporary file, fsync, rename, fsync
//     of the directory), so a crash or a wrong PCR selection never leaves
//     an unusable root.sealed behind.
//   - Key material lives in RootKey and RecoveryKey, which have no String
//     method, format as "redacted" under every fmt verb, marshal to JSON as
//     an empty object, and are zeroed by Destroy. Zeroing is best-effort:
//     the Go runtime may have copied the bytes (stack growth, the TPM
//     library's command buffers), and the printed recovery key is an
//     immutable string. Error strings never contain key material.
//
// # Threat model
//
// Protected against: theft of the disk or of a backup of the data directory
// (root.sealed is useless away from this TPM, root.recovery without the
// recovery key); an attacker who can change the boot chain of this machine
// when PCRs are selected (PCR 7 covers the Secure Boot policy); passive
// observers of the TPM bus or of the swtpm socket; silent corruption of
// either file.
//
// Not protected against: root on the running host, or anyone who can run
// code as the service user while the PCRs hold their sealed values (they
// can ask the TPM to unseal, exactly as the daemon does); an attacker who
// holds both root.recovery and the recovery key; rollback of root.sealed to
// an older valid copy (the rollback counter catches a rollback of the
// store, not of this file; for a planned change: putting back the two-branch
// file after the first start re-sealed to the new values alone makes the
// old values open the key again, until the next start); active tampering
// with the TPM's responses on the bus (sessions are salted but the SRK is
// not verified against an EK certificate).
//
// # Planned PCR changes
//
// A firmware or Secure Boot update changes the PCRs the key is bound to,
// and after it the TPM refuses to unseal. `accessd reseal --pcr-values
// 7=sha256:HEX,...` prepares for it: the root key is re-sealed under
// TPM2_PolicyOR over two TPM2_PolicyPCR branches, one for the values the
// PCRs hold now and one for the values given (PCRs not named keep their
// current value in it). The TPM releases the key while the PCRs hold
// either set, never neither. root.sealed's header records both sets
// (format version 2) and stays authenticated as before: its digest is part
// of the sealed payload, and Unseal compares the policy the header
// describes with the sealed object's authPolicy, which the TPM
// integrity-protects, before it asks the TPM. The first `serve` that finds
// the PCRs at the planned values re-seals the key to them alone (version 1
// again, FinishPlannedChange), so the old values stop working at the first
// start after the change. If the update does not produce the predicted
// values, nothing opens and the recovery key is the way back, as it was
// before planned changes existed.
//
// Why PolicyOR and not a signed policy (TPM2_PolicyAuthorize, as
// systemd-cryptenroll --tpm2-public-key does): a signed policy needs a
// signing key that outlives every change, and that key then unlocks the
// root key on this TPM for any PCR values it signs. On a single appliance
// the operator who would hold it is the operator who runs reseal, with the
// key on the same host or on a second system to protect; a stolen signing
// key would silently widen the binding for every future boot. PolicyOR
// needs no new secret: the branches are plain PCR values, public and
// inspectable in the header, chosen by someone who can already unseal the
// key (reseal unseals first, so it runs only while the PCRs hold a value
// the key is bound to), and the set of values that open the key is never
// wider than two and is back to one at the next start.
//
// What each branch lets an attacker do: the first branch is exactly
// today's binding, so it grants nothing new. The second grants the key to
// a boot that produces the planned values: an attacker who can change the
// boot chain gains something only if they can produce those exact values,
// which the operator chose as the measurements of the intended update; a
// wrong prediction opens nothing. Neither branch is unbound (a branch with
// no PCRs is refused at sealing), so at no moment is the key sealed
// without a PCR binding, and the window in which two sets open it ends at
// the first start on the new values. Not defended: an operator who is
// tricked into planning values of a malicious boot chain; the old values
// still opening the key until the first start after the change (booting
// the old firmware again in that window works, as it would have without
// the plan).
//
// A crash mid-reseal is harmless: every write is atomic and is preceded by
// an unseal of the new file, so root.sealed is either the old file or the
// new one. Preparing: the old file (one branch) and the new (two) both
// open on the current values. Finishing: the old file (two branches) and
// the new (the planned values alone) both open on the planned values. A
// failure to finish is logged and the start goes on; the next start, or
// `accessd reseal`, tries again.
//
// # Rollback counter
//
// A copy of the data directory taken earlier and put back later unseals
// and opens without complaint: the files are valid, just old. To notice,
// accessd keeps a TPM NV monotonic counter (TPM2_NV_DefineSpace with
// TPMA_NV_COUNTER) at NV index 0x0100ACCD (CounterIndex), in the owner
// range of the TCG handle registry and away from the indices tools and
// vendors commonly use. It is defined and read and incremented with owner
// authorization (empty, as for the SRK), is not Orderly (every increment
// is in NV before TPM2_NV_Increment returns), and does not take part in
// dictionary-attack lockout. A counter can only go up: deleting and
// re-defining it starts it at the highest value any counter on this TPM
// has held. This package only defines, reads and increments it
// (EnsureCounter, ReadCounter, IncrementCounter); what the value means is
// the daemon's business (daemon/internal/rollback).
//
// Wear: the daemon increments once per start and once per clean stop,
// never per write, so the count is twice the number of restarts: about
// 100 a year with weekly maintenance, 730 with a restart every day. The
// unit's StartLimitBurst (5 in 5 minutes) and RestartPreventExitStatus
// (6, a detected rollback) bound a crash loop. TPM NV is rated by its
// vendors for 100,000 writes per location or more (counters are usually
// wear-levelled), so ten years of daily restarts (7,300 increments) use
// under a tenth of it.
//
// One install per TPM: two data directories sealed to the same TPM share
// the counter, and each start of one makes the other look rolled back.
//
// The in-process simulator implements the counter too but keeps NV in
// memory only, so under --dev the daemon turns rollback detection off.
//
// # TPMs
//
// Open accepts three kinds of TPM. "device" is the kernel's resource
// manager (/dev/tpmrm0). "tcp" speaks the Microsoft simulator framing that
// swtpm serves on its server port (only the command channel is used, so
// swtpm must run with --flags not-need-init,startup-clear); it accepts
// loopback addresses only, because a TPM reached over the network does not
// bind keys to this host. "simulator" is the in-process Microsoft
// reference TPM from go-tpm-tools; it needs cgo, exists for tests and
// `--dev`, derives its seeds from a seed file (so blobs survive restarts),
// and offers no protection at all: the seed file is the key.
package seal

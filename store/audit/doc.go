// Package audit is accessd's hash-chained, append-only audit log, kept in
// the encrypted store.
//
// # How an entry gets into the chain
//
// A change and its audit entry commit together: the code making the
// change stages the entry in the same store transaction
// (tx.Audit().Stage), so a durable change always has a durable entry and
// an aborted one has none. Staging does not touch the chain's head, so
// concurrent changes do not conflict on it. One writer goroutine (Log)
// then takes the staged entries in batches, gives each its sequence
// number and PrevHash, computes its Hash and commits the batch in one
// transaction: one fsync per batch, however many entries. Entries not
// tied to a change (a failed sign-in, a denied decision) go through
// Record, which joins the writer's next batch and returns only when that
// batch is durable: group commit.
//
//	Hash(n) = SHA-256("accessd audit v1\n" || PrevHash(n) || JSON(entry n with Hash empty))
//	PrevHash(n) = Hash(n-1), empty for the first entry
//
// JSON here is encoding/json of store.AuditEntry, which is deterministic
// (struct fields in order, map keys sorted).
//
// # What the store does, and what this package does
//
// The store does the staged append only: Tx.Audit().Stage writes the
// entry to its queue in the change's transaction, under a key time it
// asks of its store.AuditClock, and Store.AuditLog gives this package the
// pending entries and transactions confined to the audit log's keys.
// The writer's scheduling state is here, in Queue, which the host gives
// both to store.Open (as that clock) and to Open: the clock that orders
// staged entries, the key times held by writes in flight (Floor), the
// wake-up after every commit that staged entries and their count.
// Everything else is here too: the chain's keys ("audit/<seq>",
// "meta/auditseq", "meta/auditcheckpoint"), sequence numbers and
// hashes, the rule that only the next sequence number can be chained,
// checkpoints and their rules, archives, and verification. The store's
// record MAC still covers every value, so an edit without the root key
// fails there before the chain is even looked at.
//
// # What Verify detects
//
// An entry whose content was edited (its Hash no longer matches), an
// entry removed from the middle (a sequence gap or a PrevHash that does
// not match), entries reordered (a sequence out of place), the tail cut
// off (the store's head counter is ahead of the last entry), and any
// value changed without the root key (the store's per-value MAC). It
// names the first broken entry.
//
// # Retention
//
// Prune moves the oldest entries (older than audit.retention, never the
// head) out of the store: it writes them to an archive file (JSON lines,
// each entry exactly as chained), records a checkpoint (the last
// archived entry's number and hash, the archive's name, SHA-256 and
// count) and only then deletes them, in batches. Verify starts at the
// checkpoint: the first remaining entry must follow it, and entries it
// covers that a stopped prune left behind are not looked at. A
// checkpoint whose hash was edited, removed, moved back over archived
// entries or past the head, and a removed first entry after it, all
// fail. VerifyArchive checks an archive against its checkpoint; each
// archive starts where the one before it ended (FirstPrev), so the
// archives and the store together form the whole chain.
//
// An insider with the root key could move the checkpoint forward to an
// existing entry and delete what lies before it: the store alone then
// looks like an ordinary prune. The archive the checkpoint names does
// not match it, which is why archives belong in long-term storage away
// from this host, together with the head hashes recorded there.
//
// It cannot detect, on its own, the whole log rewritten from some entry
// on by someone who holds the root key: the chain is then consistent.
// That is what the head hash printed by `accessctl audit verify` is for:
// an operator who records it elsewhere (a ticket, a SIEM) can tell that
// the chain no longer passes through it. The journald copy of each entry
// (one line per entry, with a stable MESSAGE_ID) is a second, independent
// trail.
package audit

// Package lockdown checks the host before accessd unseals anything, and
// hardens the process so that key material cannot leave it through a core
// dump, a debugger or swap.
//
// # Use
//
// The daemon calls [Harden] first, then [Run]; `accessd serve` refuses to
// unseal when [Report.Failed] is true, and `accessd check` prints the same
// [Report] as text ([Report.WriteText]) or JSON (json.Marshal). Harden is
// separate from Run because it changes process state: `accessd check` runs
// it too, so the findings describe what `serve` would see.
//
// # Findings
//
// Every check yields one [Finding] with a stable kebab-case name, the
// severity a failure of it carries, a status, what was found and, when the
// status is not pass, a concrete command that fixes it. A critical check
// that fails has status fail; a warning-severity check that fails has status
// warn; informational findings have status info. With [Config.Dev] (or
// [Config.WarnOnly], for `[lockdown] mode = "warn"`) critical failures are
// reported with status warn instead and the report does not fail. The
// checks, in report order:
//
//	process-not-root       real, effective and saved uid equal and not 0; gids equal
//	data-dir-perms         the data dir and everything in it owned by the
//	                       service user with mode & 0077 == 0 (the admin
//	                       socket, when it lives there, is skipped)
//	data-dir-parents       see "Parent directories"
//	config-file-perms      owned by root, not group/other-writable (0640
//	                       root:accessd): the service user must not be able
//	                       to rewrite its own config for the next start
//	config-file-parents    see "Parent directories"; owned by root, not by
//	                       the service user
//	tls-key-perms          mode & 0077 == 0, owned by root or the service user
//	tls-key-parents
//	tls-cert-perms         not group/other-writable (warning: a swapped
//	                       certificate without its key only breaks TLS)
//	tls-client-ca-perms    not group/other-writable (critical: a planted CA
//	                       lets anyone pass mTLS client authentication)
//	tls-client-ca-parents
//	core-dumps             RLIMIT_CORE soft limit 0 and PR_GET_DUMPABLE 0
//	memory-lock            pass when mlockall is in effect (VmLck covers at
//	                       least half of VmSize); warn otherwise: key pages
//	                       could be swapped
//	swap                   no swap, or only dm-crypt / zram swap
//	ptrace-scope           kernel.yama.ptrace_scope >= 1
//	kernel-lockdown        integrity or confidentiality
//	secure-boot            the SecureBoot EFI variable is 1
//	seal-device            a usable TPM character device; swtpm over loopback
//	                       TCP only; the simulator only with Dev
//	admin-socket-dir       the admin socket's directory (and its parents)
//	                       not group/other-writable
//	clock                  now is not before the binary's build time
//
// # Parent directories
//
// Like OpenSSH's StrictModes, every directory from a protected path up to
// `/` must be owned by root, the running uid or the service user (for the
// config file's parents: by root alone), and must
// not be group- or other-writable; the sticky bit does not excuse a
// world-writable directory such as /tmp, since whoever can write there can
// race the daemon for a name. Both the path as given and its symlink-free
// form are walked. [Config.TrustedRoot] stops the walk: directories above
// it are not checked. It exists for tests, whose temporary trees live under
// the 1777 /tmp: a test sets TrustedRoot to its own t.TempDir() (mode 0700,
// owned by the test user), so the checks judge only the tree the test built.
// Production leaves it empty, which means `/`.
//
// # Threat model
//
// The adversary is a local user or service without root: it may read
// world-readable files, write anything group- or other-writable, attach a
// debugger to processes of its own uid, and read swap or core files it can
// reach. The checks make sure no such path leads to the sealed root key,
// the store, the TLS key or the trust anchors, and that the process itself
// cannot be dumped or traced. An adversary with root, or with physical
// access and no Secure Boot, is out of scope; kernel-lockdown and
// secure-boot only report how far the host raises that bar.
//
// The checks are point-in-time: a host can be changed after they ran. They
// read only metadata (modes, owners, kernel flags), never file contents
// other than the small /proc and /sys files named above, so no finding can
// carry key material.
//
// # Invariants
//
//   - Run never changes process or host state; Harden is the only function
//     that does, and it changes only the calling process. Run's only side
//     effects are probes: it opens a TPM device read-write and closes it,
//     or connects to a loopback swtpm port (one second timeout) and closes.
//   - Harden never enables MCL_FUTURE when a later allocation could fail
//     because of it: it calls mlockall only when RLIMIT_MEMLOCK is
//     unlimited or the process holds CAP_IPC_LOCK. Otherwise the Go runtime
//     could abort on its next heap growth; memory-lock then warns.
//   - The host files under [Config.ProcRoot] and [Config.SysRoot] are parsed
//     as untrusted bytes; each parser has a fuzz target.
//
// The package is Linux-only.
package lockdown

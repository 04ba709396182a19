package engine

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// BadgerOptions returns the Badger configuration of an accessd store.
//
// The store holds identities for one appliance: at most a few hundred
// thousand small records (a user is well under 1 KiB of JSON), written
// rarely and read often, on a host whose whole daemon should idle under
// 128 MiB with 100k users. Badger's defaults are sized for a database
// server (64 MiB memtables x5, a 256 MiB block cache, 1 GiB value-log
// files, 4 compactors), hundreds of MiB before the first record. So:
//
//   - EncryptionKey: HKDF(root, "badger"), AES-256. Badger encrypts every
//     table, memtable WAL and value-log entry under data keys that it
//     rotates (EncryptionKeyRotationDuration, default 10 days) and keeps in
//     KEYREGISTRY wrapped by this master key.
//   - SyncWrites off, because the store syncs itself (durable.go): every
//     acknowledged commit is fsynced before it returns (an access manager
//     must not forget a disabled user or a revoked token after a power
//     cut), and concurrent commits share one sync. Badger's SyncWrites
//     syncs once per transaction even inside a batch, so sixteen writers
//     paid sixteen fsyncs.
//   - MemTableSize 8 MiB, NumMemtables 2: bounds the skiplist arenas to
//     about 2 x 10.5 MiB and the .mem WAL files to 2 x 8 MiB. The largest
//     transaction is then 15% of 8 MiB = 1.2 MiB, far above any record.
//   - ValueThreshold 1 MiB (Badger's maximum): every value of ours stays in
//     the LSM tree, so the value log is effectively unused and no value-log
//     GC is ever needed; compaction alone reclaims space.
//   - ValueLogFileSize 16 MiB: the value log is mmapped; keep its files
//     small since it holds (almost) nothing.
//   - BlockCacheSize 8 MiB, IndexCacheSize 4 MiB: both are required with
//     encryption (decrypted blocks and table indexes are cached; without an
//     index cache Badger panics on encrypted tables) and both are hard caps.
//     100k users make ~25 tables of 2 MiB, whose indexes and bloom filters
//     fit in 4 MiB; the block cache holds hot users, misses cost one AES
//     decrypt of a 4 KiB block.
//   - BaseTableSize 2 MiB, BaseLevelSize 8 MiB, NumLevelZeroTables 4 (stall
//     at 8): small tables keep per-table memory and compaction bursts small.
//   - NumCompactors 2 (Badger refuses 1; 0 would disable compaction),
//     NumGoroutines 2 (Stream/backup): the host has few cores to share.
//   - Compression Snappy: cheap, shrinks tables and cached blocks; it runs
//     before encryption.
//   - ChecksumVerificationMode OnBlockRead: a block's checksum is checked
//     when it is read from disk (not again from the cache), so a damaged
//     table is an error instead of garbage. Badger's encryption is AES-CTR
//     and its checksums are not MACs; deliberate tampering is caught by the
//     per-value HMAC (the barrier's record MACs).
//   - DetectConflicts: required for optimistic concurrency across
//     goroutines (see Retry).
//   - MetricsEnabled off: Badger's expvar metrics are process-global maps;
//     Engine.Size walks the directory instead.
//   - Logger: warnings and errors to slog; info and debug dropped (not
//     WithLoggingLevel, which would put Badger's stderr logger back). Badger's
//     messages at those levels carry file names, levels and key ranges at
//     most, never values.
func BadgerOptions(dir string, masterKey []byte, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithEncryptionKey(masterKey).
		WithSyncWrites(false). // the store syncs every commit itself, in groups (durable.go)
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithValueThreshold(1 << 20).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.Snappy).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithDetectConflicts(true).
		WithMetricsEnabled(false).
		WithLogger(badgerLog{log})
}

// badgerLog routes Badger's logger to slog at warning level and above.
type badgerLog struct{ l *slog.Logger }

func (b badgerLog) Errorf(format string, args ...any) {
	b.l.Error("badger", "detail", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (b badgerLog) Warningf(format string, args ...any) {
	b.l.Warn("badger", "detail", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (badgerLog) Infof(string, ...any)  {}
func (badgerLog) Debugf(string, ...any) {}

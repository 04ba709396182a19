package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/accessd/accessd/store/internal/barrier"
	"github.com/accessd/accessd/store/internal/engine"
)

// Options carries what the store needs from its host besides the data
// directory and the root key. The zero value is valid.
type Options struct {
	// Logger receives Badger's warnings and errors. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Now stamps CreatedAt and UpdatedAt. Nil means time.Now; tests inject
	// a fixed clock.
	Now func() time.Time
	// Rand supplies record IDs, GCM nonces and backup salts. Nil means
	// crypto/rand.Reader. It is serialised internally, so it need not be
	// safe for concurrent use.
	Rand io.Reader
	// BeforeMigrate is called when the store on disk has an older layout
	// than this build, before anything is changed, with a function that
	// writes a backup of the old store (BackupBound's format, bound to bind) to w. An error
	// stops Open and leaves the store as it was. Nil migrates without a
	// backup.
	BeforeMigrate func(from, to int, backup func(w io.Writer, bind []byte) error) error
	// AllowWrite, when set, is asked before every write transaction
	// (Update, each repository's own writes, the audit chain, retention,
	// key rotation); an error refuses the write before Badger is touched
	// and is returned wrapped, so errors.Is and errors.As see through it.
	// The daemon refuses writes this way while the disk is nearly full:
	// Badger writes through memory maps, and a page that finds the disk
	// full kills the process with SIGBUS instead of returning an error.
	// It is called on every write, so it must be cheap (an atomic load).
	// Open's own metadata writes are not asked. Nil allows every write.
	AllowWrite func() error
	// AllowBulkWrite, when set, is asked as well before each transaction
	// of a writer that writes much in a short time (each batch of a
	// field-key rotation), where AllowWrite's verdict may be a moment
	// old. It may cost a system call (the daemon reads the free space
	// afresh). Nil asks AllowWrite alone.
	AllowBulkWrite func() error
	// Audit is the audit writer's scheduling state (a store/audit.Queue,
	// which the writer is opened with too): it stamps the key time of
	// every staged audit entry and is told of every commit that staged
	// one. Nil refuses to stage (tx.Audit().Stage returns ErrInvalid):
	// a store opened only to read, verify or back up needs none.
	Audit AuditClock
}

// Store is accessd's encrypted record store: one Badger database under a
// key derived from the root key, a field keyring for secret fields, and
// one narrow repository per kind of record. It is safe for concurrent use.
type Store struct {
	eng *engine.Engine // the database, the close lock, the write gates, the group sync
	// rotating serialises RotateFields.
	rotating sync.Mutex
	log      *slog.Logger
	now      func() time.Time
	rand     io.Reader

	keys keys // the key material derived from the root key (the barrier)

	userT     *table[User]
	credT     *table[Credential]
	loginT    *table[LoginState]
	groupT    *table[Group]
	appT      *table[Application]
	familyT   *table[RefreshFamily]
	signingT  *table[SigningKey]
	revokedT  *table[RevokedToken]
	providerT *table[Provider]

	// emailsShared is what the migration to layout 3 found (EmailsShared).
	emailsShared []string

	// queue is how writes reach the audit writer's scheduling state
	// (Options.Audit): the key times of staged entries and their holds,
	// and the word after a commit that staged some.
	queue auditQueue
}

// Keys of the store's own metadata.
var (
	metaFormat    = []byte("meta/format")
	metaFieldTerm = []byte("meta/fieldterm")
)

// formatVersion is the layout version written at creation; Open migrates
// an older layout (see migrate.go) and refuses a newer one instead of
// misreading it.
//
//	1  users carry their password hash, MFA and login counters
//	2  credentials and login state are records of their own; a group ->
//	   members index; usernames indexed as given (canonicalised by
//	   oauth/directory); audit entries staged, then chained
//	3  e-mail addresses indexed, folded (FoldEmail), for sign-in by
//	   address; addresses shared by several accounts marked EmailShared
//	4  the seeded identity-editor-group's grants in product "identity"
const formatVersion = 4

// Open opens (creating if needed) the store in dir, which the daemon puts
// at <data>/db. rootKey must be RootKeySize bytes; Open derives what it
// needs and keeps no copy of it, so the caller keeps and zeroes its own.
// A root key that does not match the directory yields ErrKeyMismatch.
func Open(dir string, rootKey []byte, opts Options) (*Store, error) {
	if len(rootKey) != RootKeySize {
		return nil, fmt.Errorf("store: open: %w: root key must be %d bytes", ErrInvalid, RootKeySize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	} else {
		opts.Rand = &lockedReader{r: opts.Rand}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &Store{log: opts.Logger, now: opts.Now, rand: opts.Rand}
	b, err := barrier.Derive(rootKey, s.rand)
	if err != nil {
		return nil, err
	}
	s.keys = newKeys(b)
	if s.eng, err = engine.Open(dir, b.BadgerKey(), s.log); err != nil {
		b.Wipe()
		return nil, err
	}
	s.userT = userTable(s)
	s.credT = credentialTable(s)
	s.loginT = loginTable(s)
	s.groupT = groupTable(s)
	s.appT = applicationTable(s)
	s.familyT = familyTable(s)
	s.signingT = signingKeyTable(s)
	s.revokedT = revokedTable(s)
	s.providerT = providerTable(s)
	s.queue = auditQueue{c: opts.Audit}
	if err := (migration{s}).initMeta(opts.BeforeMigrate); err != nil {
		_ = s.eng.Close(b.Wipe)
		return nil, err
	}
	s.eng.Gate(opts.AllowWrite, opts.AllowBulkWrite)
	return s, nil
}

// initMeta writes the format version and the first field-key term into a
// new store, migrates an older layout, and checks and loads them from an
// existing one.
func (m migration) initMeta(beforeMigrate func(int, int, func(io.Writer, []byte) error) error) error {
	var stored uint64
	err := m.s.eng.DB().View(func(txn *badger.Txn) error {
		v, err := m.s.keys.mac.getUint64(txn, metaFormat)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		stored = v
		return err
	})
	if err != nil {
		return fmt.Errorf("store: open: metadata: %w", err)
	}
	switch {
	case stored > formatVersion:
		return fmt.Errorf("store: open: %w: the store has layout version %d and this accessd reads up to %d; run the newer accessd that wrote it, or restore a backup made by this version", ErrTooNew, stored, formatVersion)
	case stored != 0 && stored < formatVersion:
		if beforeMigrate != nil {
			backup := func(w io.Writer, bind []byte) error { return m.s.Barrier().backupLocked(w, bind) }
			if err := beforeMigrate(int(stored), formatVersion, backup); err != nil {
				return fmt.Errorf("store: open: before migrating layout %d to %d: %w", stored, formatVersion, err)
			}
		}
		// Re-sealing TOTP seeds needs the field keyring at the stored
		// term before the migration runs.
		var t uint64
		err := m.s.eng.DB().View(func(txn *badger.Txn) error {
			var err error
			t, err = m.s.keys.mac.getUint64(txn, metaFieldTerm)
			return err
		})
		if err == nil && (t == 0 || t > 1<<32-1) {
			err = fmt.Errorf("%w: field key term %d out of range", ErrInvalid, t)
		}
		if err != nil {
			return fmt.Errorf("store: open: metadata: %w", err)
		}
		m.s.keys.fields.SetActive(uint32(t))
		if err := m.migrate(stored); err != nil {
			return fmt.Errorf("store: open: migrate layout %d to %d: %w", stored, formatVersion, err)
		}
		m.s.log.Info("store layout migrated", "event", "store.migrated", "from", stored, "to", formatVersion)
	}
	var term uint32
	err = m.s.eng.Retry(func(txn *badger.Txn) error {
		v, err := m.s.keys.mac.getUint64(txn, metaFormat)
		switch {
		case errors.Is(err, ErrNotFound):
			if err := m.s.keys.mac.putUint64(txn, metaFormat, formatVersion); err != nil {
				return err
			}
		case err != nil:
			return err
		case v != formatVersion:
			return fmt.Errorf("%w: layout version %d, this build reads %d", ErrInvalid, v, formatVersion)
		}
		t, err := m.s.keys.mac.getUint64(txn, metaFieldTerm)
		switch {
		case errors.Is(err, ErrNotFound):
			t = 1
			if err := m.s.keys.mac.putUint64(txn, metaFieldTerm, t); err != nil {
				return err
			}
		case err != nil:
			return err
		case t == 0 || t > 1<<32-1:
			return fmt.Errorf("%w: field key term %d out of range", ErrInvalid, t)
		}
		term = uint32(t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: open: metadata: %w", err)
	}
	m.s.keys.fields.SetActive(term)
	if err := m.loadRetired(); err != nil {
		return fmt.Errorf("store: open: metadata: %w", err)
	}
	return nil
}

// Close flushes and closes the database, then clears the keys the store
// derived. Clearing is best-effort: Go may have copied key bytes while
// moving memory, AES key schedules cannot be reached, and Badger's own
// per-table data keys live in its memory until collected. Close is
// idempotent; every other method returns ErrClosed afterwards.
func (s *Store) Close() error { return s.eng.Close(s.keys.b.Wipe) }

// Users returns the repository of user accounts; each call is its own
// transaction (use Update and tx.Users() to join several).
func (s *Store) Users() *UserRepo { return &UserRepo{t: s.userT, x: exec{s: s}} }

// Credentials returns the repository of users' credentials.
func (s *Store) Credentials() *CredentialRepo { return &CredentialRepo{t: s.credT, x: exec{s: s}} }

// Logins returns the repository of login state.
func (s *Store) Logins() *LoginStateRepo { return &LoginStateRepo{t: s.loginT, x: exec{s: s}} }

// Groups returns the repository of groups and their permissions.
func (s *Store) Groups() *GroupRepo { return &GroupRepo{t: s.groupT, x: exec{s: s}} }

// Applications returns the repository of machine-to-machine clients.
func (s *Store) Applications() *ApplicationRepo {
	return &ApplicationRepo{t: s.appT, x: exec{s: s}}
}

// RefreshFamilies returns the repository of refresh-token families.
func (s *Store) RefreshFamilies() *RefreshFamilyRepo {
	return &RefreshFamilyRepo{t: s.familyT, x: exec{s: s}}
}

// SigningKeys returns the repository of token signing keys.
func (s *Store) SigningKeys() *SigningKeyRepo {
	return &SigningKeyRepo{t: s.signingT, x: exec{s: s}}
}

// RevokedTokens returns the repository of revoked access-token IDs.
func (s *Store) RevokedTokens() *RevokedTokenRepo {
	return &RevokedTokenRepo{t: s.revokedT, x: exec{s: s}}
}

// Providers returns the repository of MFA delivery providers.
func (s *Store) Providers() *ProviderRepo { return &ProviderRepo{t: s.providerT, x: exec{s: s}} }

// Sum returns HMAC-SHA-256 of msg under a key derived from the root key
// for purpose: the keyed hash ("pepper") that client secrets, recovery
// codes and refresh tokens are stored as. They are high-entropy, so a
// keyed hash costs microseconds and a stolen store without the root key
// cannot be checked against guesses. The key never leaves the store.
func (s *Store) Sum(purpose string, msg []byte) []byte { return s.keys.b.Sum(purpose, msg) }

// Size reports the bytes on disk of the LSM tree (tables and memtable
// logs) and of the value log, for status and metrics. It counts allocated
// blocks, so preallocated sparse files count for what they use.
func (s *Store) Size() (lsm, vlog int64) { return s.eng.Size() }

// SyncDir makes the entries created, renamed or removed in dir durable:
// an fsync of the directory itself, which a rename or a new file needs
// before it survives a power loss.
func SyncDir(dir string) error { return engine.SyncDir(dir) }

// lockedReader serialises an injected Rand.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// newID returns a random RFC 4122 version-4 UUID string.
func newID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// checkKeyPart rejects values that would make keys ambiguous or huge.
func checkKeyPart(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(v) > 512:
		return fmt.Errorf("%w: %s longer than 512 bytes", ErrInvalid, what)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: NUL in %s", ErrInvalid, what)
	}
	return nil
}

// Package backupfile is the file `accessctl backup` writes and `accessd
// restore` reads: a header that carries the wrapped root key, bound to
// the store's encrypted stream that follows it.
//
// # Format (version 2)
//
// `accessctl backup` writes, and `accessd restore` reads:
//
//	magic     "ACCESSD-BACKUP\n" (15 bytes)
//	version   u8 (2)
//	created   i64 big endian, Unix seconds, when the backup began
//	recLen    u16 big endian, 1..4096
//	recovery  recLen bytes: <data>/seal/root.recovery as it was on disk
//	id        16 random bytes, new for every backup
//	tag       32 bytes: HMAC-SHA-256 over every byte above, keyed by
//	          HKDF(HKDF(root, "backup"), "accessd backup container v1")
//	stream    to the end: the store's encrypted backup stream
//	          (store/backup.go: chunked AES-256-GCM under a key derived
//	          from the root key and a per-stream salt), bound to the tag:
//	          every chunk authenticates the tag as well
//
// The binding is what version 2 adds. Version 1 (no id, a stream with no
// binding) tagged the time and the recovery block but not the stream, so
// the header of one backup could be put on the stream of an earlier one
// and restore said "a backup taken" at the later time. Version 2's stream
// opens only under its own header, and its id makes every header unique,
// even two taken in the same second. Restore still reads version 1, and
// warns that such a header is not bound to its data.
//
// The recovery block is the root key wrapped by the recovery key, so the
// file and the recovery key alone rebuild everything: restore unwraps the
// root key, checks the tag (which binds the header to that root key: a
// recovery block from another install or an altered time is refused),
// then the stream authenticates chunk by chunk under the same root key.
// Nothing in the file is readable without the recovery key.
//
// # Threat model
//
// The file travels and is stored outside the host: anyone may read or
// alter it. Read checks structure only and never trusts a length it has
// not bounded; the tag (store.CheckBackupTag) and the bound stream decide
// whether it is genuine, under the root key the recovery key unwraps.
package backupfile

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
)

const (
	backupMagic     = "ACCESSD-BACKUP\n"
	version2        = 2
	V1              = 1
	backupIDLen     = 16
	backupFixedLen  = len(backupMagic) + 1 + 8 + 2
	maxRecoveryData = seal.RecoveryFileMaxSize
)

// ErrFormat says a file is not an accessd backup, or its header is
// damaged; nothing was restored.
var ErrFormat = errors.New("daemon: not an accessd backup file, or its header is damaged")

// Header is the parsed header of a backup file.
type Header struct {
	Version  int
	Created  time.Time
	Recovery []byte // root.recovery bytes
	Raw      []byte // every byte the tag covers
	Tag      []byte
}

// encode returns the header bytes the tag covers: version 2
// with id (backupIDLen bytes), or version 1 for a nil id (never written
// by accessd any more; tests make version-1 files with it).
func encode(created time.Time, recovery, id []byte) ([]byte, error) {
	if len(recovery) == 0 || len(recovery) > maxRecoveryData {
		return nil, fmt.Errorf("daemon: backup header: recovery block of %d bytes", len(recovery))
	}
	version := byte(version2)
	switch len(id) {
	case 0:
		version = V1
	case backupIDLen:
	default:
		return nil, fmt.Errorf("daemon: backup header: id of %d bytes", len(id))
	}
	b := make([]byte, 0, backupFixedLen+len(recovery)+len(id))
	b = append(b, backupMagic...)
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(created.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(recovery)))
	b = append(b, recovery...)
	return append(b, id...), nil
}

// New returns a version-2 header for a backup begun at now,
// with a fresh id from rand, and its tag.
func New(now time.Time, recovery []byte, rand io.Reader, tagFor func([]byte) ([]byte, error)) (hdr, tag []byte, err error) {
	id := make([]byte, backupIDLen)
	if _, err := io.ReadFull(rand, id); err != nil {
		return nil, nil, fmt.Errorf("daemon: backup id: %w", err)
	}
	if hdr, err = encode(now, recovery, id); err != nil {
		return nil, nil, err
	}
	if tag, err = tagFor(hdr); err != nil {
		return nil, nil, err
	}
	return hdr, tag, nil
}

// StreamBinding is what the store stream under h must be bound to: the
// header's tag for version 2, nothing for version 1.
func (h *Header) StreamBinding() []byte {
	if h.Version == V1 {
		return nil
	}
	return h.Tag
}

// Read reads and frames the header from r, leaving r at the
// start of the store stream. It checks structure only: the tag needs the
// root key (store.CheckBackupTag). Errors wrap ErrFormat.
func Read(r io.Reader) (*Header, error) {
	fixed := make([]byte, backupFixedLen)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, fmt.Errorf("%w: file too short (%v)", ErrFormat, err)
	}
	if string(fixed[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: it does not start with the accessd backup magic (is it the output of `accessctl backup`?)", ErrFormat)
	}
	p := fixed[len(backupMagic):]
	idLen := 0
	switch p[0] {
	case V1:
	case version2:
		idLen = backupIDLen
	default:
		return nil, fmt.Errorf("%w: format version %d; this accessd reads versions %d and %d (restore with the accessd that made it)", ErrFormat, p[0], V1, version2)
	}
	secs := int64(binary.BigEndian.Uint64(p[1:9]))
	n := int(binary.BigEndian.Uint16(p[9:11]))
	if n == 0 || n > maxRecoveryData {
		return nil, fmt.Errorf("%w: recovery block of %d bytes", ErrFormat, n)
	}
	rest := make([]byte, n+idLen+store.BackupTagSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, fmt.Errorf("%w: truncated header (%v)", ErrFormat, err)
	}
	h := &Header{
		Version:  int(p[0]),
		Created:  time.Unix(secs, 0).UTC(),
		Recovery: rest[:n:n],
		Raw:      append(fixed, rest[:n+idLen]...),
		Tag:      rest[n+idLen:],
	}
	return h, nil
}

// barrierStore is the store's barrier a backup is tagged and streamed by; *store.Store provides it.
type barrierStore interface {
	Barrier() store.Barrier
}

// Write writes a whole backup file to w: the header with the
// current root.recovery, then the store's stream.
func Write(w io.Writer, st barrierStore, dataDir string, now time.Time) error {
	rec, err := seal.ReadRecoveryData(datadir.RecoveryPath(dataDir))
	if err != nil {
		return fmt.Errorf("daemon: backup: %w", err)
	}
	hdr, tag, err := New(now, rec, rand.Reader, st.Barrier().BackupTag)
	if err != nil {
		return fmt.Errorf("daemon: backup: %w", err)
	}
	if _, err := w.Write(append(hdr, tag...)); err != nil {
		return fmt.Errorf("daemon: backup: write header: %w", err)
	}
	if err := st.Barrier().BackupBound(w, tag); err != nil {
		return fmt.Errorf("daemon: backup: %w", err)
	}
	return nil
}

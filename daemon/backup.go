package daemon

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// # Backup file format (version 2)
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
const (
	backupMagic     = "ACCESSD-BACKUP\n"
	backupVersion   = 2
	backupV1        = 1
	backupIDLen     = 16
	backupFixedLen  = len(backupMagic) + 1 + 8 + 2
	maxRecoveryData = seal.RecoveryFileMaxSize
)

// ErrBackupFormat says a file is not an accessd backup, or its header is
// damaged; nothing was restored.
var ErrBackupFormat = errors.New("daemon: not an accessd backup file, or its header is damaged")

// backupHeader is the parsed header of a backup file.
type backupHeader struct {
	version  int
	created  time.Time
	recovery []byte // root.recovery bytes
	raw      []byte // every byte the tag covers
	tag      []byte
}

// encodeBackupHeader returns the header bytes the tag covers: version 2
// with id (backupIDLen bytes), or version 1 for a nil id (never written
// by accessd any more; tests make version-1 files with it).
func encodeBackupHeader(created time.Time, recovery, id []byte) ([]byte, error) {
	if len(recovery) == 0 || len(recovery) > maxRecoveryData {
		return nil, fmt.Errorf("daemon: backup header: recovery block of %d bytes", len(recovery))
	}
	version := byte(backupVersion)
	switch len(id) {
	case 0:
		version = backupV1
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

// newBackupHeader returns a version-2 header for a backup begun at now,
// with a fresh id from rand, and its tag.
func newBackupHeader(now time.Time, recovery []byte, rand io.Reader, tagFor func([]byte) ([]byte, error)) (hdr, tag []byte, err error) {
	id := make([]byte, backupIDLen)
	if _, err := io.ReadFull(rand, id); err != nil {
		return nil, nil, fmt.Errorf("daemon: backup id: %w", err)
	}
	if hdr, err = encodeBackupHeader(now, recovery, id); err != nil {
		return nil, nil, err
	}
	if tag, err = tagFor(hdr); err != nil {
		return nil, nil, err
	}
	return hdr, tag, nil
}

// streamBinding is what the store stream under h must be bound to: the
// header's tag for version 2, nothing for version 1.
func (h *backupHeader) streamBinding() []byte {
	if h.version == backupV1 {
		return nil
	}
	return h.tag
}

// readBackupHeader reads and frames the header from r, leaving r at the
// start of the store stream. It checks structure only: the tag needs the
// root key (store.CheckBackupTag). Errors wrap ErrBackupFormat.
func readBackupHeader(r io.Reader) (*backupHeader, error) {
	fixed := make([]byte, backupFixedLen)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, fmt.Errorf("%w: file too short (%v)", ErrBackupFormat, err)
	}
	if string(fixed[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: it does not start with the accessd backup magic (is it the output of `accessctl backup`?)", ErrBackupFormat)
	}
	p := fixed[len(backupMagic):]
	idLen := 0
	switch p[0] {
	case backupV1:
	case backupVersion:
		idLen = backupIDLen
	default:
		return nil, fmt.Errorf("%w: format version %d; this accessd reads versions %d and %d (restore with the accessd that made it)", ErrBackupFormat, p[0], backupV1, backupVersion)
	}
	secs := int64(binary.BigEndian.Uint64(p[1:9]))
	n := int(binary.BigEndian.Uint16(p[9:11]))
	if n == 0 || n > maxRecoveryData {
		return nil, fmt.Errorf("%w: recovery block of %d bytes", ErrBackupFormat, n)
	}
	rest := make([]byte, n+idLen+store.BackupTagSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, fmt.Errorf("%w: truncated header (%v)", ErrBackupFormat, err)
	}
	h := &backupHeader{
		version:  int(p[0]),
		created:  time.Unix(secs, 0).UTC(),
		recovery: rest[:n:n],
		raw:      append(fixed, rest[:n+idLen]...),
		tag:      rest[n+idLen:],
	}
	return h, nil
}

// writeBackup writes a whole backup file to w: the header with the
// current root.recovery, then the store's stream.
func writeBackup(w io.Writer, st *store.Store, dataDir string, now time.Time) error {
	rec, err := seal.ReadRecoveryData(recoveryPath(dataDir))
	if err != nil {
		return fmt.Errorf("daemon: backup: %w", err)
	}
	hdr, tag, err := newBackupHeader(now, rec, rand.Reader, st.Barrier().BackupTag)
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

// keyRoutes registers the admin routes that act on the store as a whole:
// GET /v1/backup and POST /v1/keys/rotate-fields. Both are audited with
// the admin-socket caller as actor.
func keyRoutes(mux *http.ServeMux, st *store.Store, al *audit.Log, dataDir string, log *slog.Logger) {
	record := func(ctx context.Context, e store.AuditEntry) {
		if err := al.Record(ctx, e); err != nil {
			log.Error("audit entry not written", "event", "audit.record_error", "type", e.Type, "err", err)
		}
	}
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		a, err := adminActor(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		now := time.Now().UTC()
		cw := &countingWriter{w: w}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Disposition", `attachment; filename="accessd-`+now.Format("20060102T150405Z")+`.backup"`)
		err = writeBackup(cw, st, dataDir, now)
		result := "ok"
		if err != nil {
			result = "failed"
		}
		record(context.WithoutCancel(r.Context()), store.AuditEntry{Type: "backup.create", Actor: a.Name, Source: a.Source,
			Target: "store", Result: result, Detail: map[string]string{"bytes": strconv.FormatInt(cw.n, 10), "created": now.Format(time.RFC3339)}})
		if err != nil {
			log.Error("backup failed", "event", "backup.error", "bytes", cw.n, "err", err)
			if cw.n == 0 {
				w.Header().Del("Content-Disposition")
				api.WriteError(w, err)
				return
			}
			// The status line is gone: break the connection so the
			// client sees a failed transfer, never a short file that
			// looks complete (restore would refuse it anyway: the
			// stream's last chunk is missing).
			panic(http.ErrAbortHandler)
		}
		log.Info("backup written", "event", "backup.created", "bytes", cw.n)
	})
	mux.HandleFunc("POST /v1/keys/rotate-fields", func(w http.ResponseWriter, r *http.Request) {
		a, err := adminActor(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		res, err := st.Barrier().RotateFields(store.RotateFieldsOptions{Audit: func(res store.FieldRotation) store.AuditEntry {
			return store.AuditEntry{Type: "keys.rotate_fields", Actor: a.Name, Source: a.Source, Target: "field keys", Result: "ok",
				Detail: map[string]string{"term": strconv.FormatUint(uint64(res.Term), 10), "retired": strconv.FormatUint(uint64(res.Retired), 10),
					"resealed": strconv.Itoa(res.Resealed), "resumed": strconv.FormatBool(res.Resumed)}}
		}})
		if err != nil {
			record(context.WithoutCancel(r.Context()), store.AuditEntry{Type: "keys.rotate_fields", Actor: a.Name, Source: a.Source,
				Target: "field keys", Result: "failed", Detail: map[string]string{"term": strconv.FormatUint(uint64(res.Term), 10)}})
			log.Error("field-key rotation failed", "event", "keys.rotate_fields_error", "term", res.Term, "err", err)
			if res.Term != 0 {
				err = fmt.Errorf("%w; the rotation to key term %d stopped part-way and every field still opens: run `accessctl keys rotate-fields` again once that is fixed, and it resumes at term %d", err, res.Term, res.Term)
			}
			api.WriteError(w, err)
			return
		}
		// The entry was staged with the retirement; chain it before
		// answering so `audit list` shows it at once.
		if err := al.Sync(); err != nil {
			log.Error("audit sync after rotation", "event", "audit.record_error", "err", err)
		}
		api.WriteJSON(w, http.StatusOK, api.FieldRotation{Term: res.Term, Retired: res.Retired, Resealed: res.Resealed, Records: res.Records, Resumed: res.Resumed})
	})
}

// countingWriter counts what reached the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/accessd/accessd/daemon/internal/backupfile"
	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

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
		err = backupfile.Write(cw, st, dataDir, now)
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
		res, err := st.RotateFields(store.RotateFieldsOptions{Audit: func(res store.FieldRotation) store.AuditEntry {
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

package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
)

// listKeys is GET /v1/keys (`accessctl keys list`).
func (a adminRoutes) listKeys(w http.ResponseWriter, r *http.Request, _ change.Actor) {
	keys, err := a.p.Tokens.Keys().List()
	if err != nil {
		api.WriteError(w, a.internal(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, keys)
}

// rotateKeys is POST /v1/keys/rotate (`accessctl keys rotate`): the
// published next key starts signing now, the old one stays in JWKS until
// its tokens expire.
func (a adminRoutes) rotateKeys(w http.ResponseWriter, r *http.Request, who change.Actor) {
	err := a.p.Tokens.Keys().Maintain(true)
	result := "ok"
	if err != nil {
		result = "failed"
	}
	change.Record(r.Context(), a.p.Audit, a.p.Log, store.AuditEntry{Time: a.p.Now().UTC(), Type: "keys.rotate", Actor: who.Name,
		Target: "signing-keys", Result: result, Source: who.Source})
	if err != nil {
		api.WriteError(w, a.internal(err))
		return
	}
	a.listKeys(w, r, who)
}

// internal logs an uncatalogued error of a key route, whose detail the
// answer omits.
func (a adminRoutes) internal(err error) error {
	if api.FaultOf(err) == api.ErrInternal {
		a.p.Log.Error("token request failed", "event", "token.error", "err", err)
	}
	return err
}

// backup is GET /v1/backup (`accessctl backup`), audited with the
// admin-socket caller as actor.
func (a adminRoutes) backup(w http.ResponseWriter, r *http.Request, who change.Actor) {
	log := a.p.Log
	now := time.Now().UTC()
	cw := &countingWriter{w: w}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="accessd-`+now.Format("20060102T150405Z")+`.backup"`)
	err := a.p.Backup(cw, now)
	result := "ok"
	if err != nil {
		result = "failed"
	}
	change.Record(context.WithoutCancel(r.Context()), a.p.Audit, log, store.AuditEntry{Type: "backup.create", Actor: who.Name, Source: who.Source,
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
}

// rotateFields is POST /v1/keys/rotate-fields (`accessctl keys
// rotate-fields`), audited with the admin-socket caller as actor.
func (a adminRoutes) rotateFields(w http.ResponseWriter, r *http.Request, who change.Actor) {
	log := a.p.Log
	res, err := a.p.Fields.RotateFields(store.RotateFieldsOptions{Audit: func(res store.FieldRotation) store.AuditEntry {
		return store.AuditEntry{Type: "keys.rotate_fields", Actor: who.Name, Source: who.Source, Target: "field keys", Result: "ok",
			Detail: map[string]string{"term": strconv.FormatUint(uint64(res.Term), 10), "retired": strconv.FormatUint(uint64(res.Retired), 10),
				"resealed": strconv.Itoa(res.Resealed), "resumed": strconv.FormatBool(res.Resumed)}}
	}})
	if err != nil {
		change.Record(context.WithoutCancel(r.Context()), a.p.Audit, log, store.AuditEntry{Type: "keys.rotate_fields", Actor: who.Name, Source: who.Source,
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
	if err := a.p.Audit.Sync(); err != nil {
		log.Error("audit sync after rotation", "event", "audit.record_error", "err", err)
	}
	api.WriteJSON(w, http.StatusOK, api.FieldRotation{Term: res.Term, Retired: res.Retired, Resealed: res.Resealed, Records: res.Records, Resumed: res.Resumed})
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

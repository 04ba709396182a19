package review

import (
	"context"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// maxAuditList bounds one audit listing.
const maxAuditList = 10000

func auditView(e store.AuditEntry) api.AuditEntry {
	return api.AuditEntry{Seq: e.Seq, Time: e.Time, Type: e.Type, Actor: e.Actor, Target: e.Target,
		Result: e.Result, Source: e.Source, Detail: e.Detail, Hash: hex.EncodeToString(e.Hash),
		PrevHex: hex.EncodeToString(e.PrevHash)}
}

// AuditList returns up to limit entries (default and maximum 10,000) at
// or after since, of type typ when given (a prefix ending in "." matches
// a family, e.g. "user."), oldest first. Entries staged by changes just
// made are chained first, so a change is listed as soon as it returned.
func (s *Admin) AuditList(since time.Time, typ string, limit int) ([]api.AuditEntry, error) {
	if limit <= 0 || limit > maxAuditList {
		limit = maxAuditList
	}
	if err := s.audit.Sync(); err != nil {
		return nil, change.StoreErr("identity", "audit list", err)
	}
	out := []api.AuditEntry{}
	err := audit.Scan(s.st, 1, func(e store.AuditEntry) (bool, error) {
		if e.Time.Before(since) {
			return true, nil
		}
		if typ != "" && e.Type != typ && !(len(typ) > 1 && typ[len(typ)-1] == '.' && len(e.Type) > len(typ) && e.Type[:len(typ)] == typ) {
			return true, nil
		}
		out = append(out, auditView(e))
		return len(out) < limit, nil
	})
	return out, change.StoreErr("identity", "audit list", err)
}

// AuditVerify checks the whole chain and reports its head, for the
// operator to record elsewhere as a checkpoint. The check itself is
// audited.
func (s *Admin) AuditVerify(ctx context.Context, a change.Actor) (api.AuditVerify, error) {
	if err := s.audit.Sync(); err != nil {
		return api.AuditVerify{}, change.StoreErr("identity", "audit verify", err)
	}
	res, err := audit.Verify(s.st)
	if err != nil {
		return api.AuditVerify{}, change.StoreErr("identity", "audit verify", err)
	}
	result := "ok"
	if !res.OK {
		result = "broken"
	}
	change.Record(ctx, s.audit, s.log, a.Entry(s.now(), "audit.verify", "audit", result, map[string]string{"entries": itoa(res.Entries)}))
	out := api.AuditVerify{OK: res.OK, Entries: res.Entries, Head: hex.EncodeToString(res.Head),
		FirstBroken: res.FirstBroken, Problem: res.Problem}
	if cp := res.Checkpoint; cp != nil {
		out.Checkpoint = &api.AuditCheckpoint{Seq: cp.Seq, Hash: hex.EncodeToString(cp.Hash), Time: cp.Time,
			Archive: cp.Archive, ArchiveSHA256: hex.EncodeToString(cp.ArchiveSHA256), FirstSeq: cp.FirstSeq, Entries: cp.Entries}
	}
	return out, nil
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

package storetest

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

func checkGroups(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	groups := st.Groups()
	perm := store.Permission{Product: "midaz", Resource: "ledgers", Action: "get"}
	g, err := groups.Create(store.Group{Name: "readers", Description: "read only", Permissions: []store.Permission{perm}})
	must(t, "create", err)
	require.Equal(t, uint64(1), g.Version, "version")
	_, err = groups.Create(store.Group{Name: "readers"})
	mustErr(t, "duplicate name", err, store.ErrExists)
	_, err = groups.Create(store.Group{})
	mustErr(t, "empty name", err, store.ErrInvalid)

	write := store.Permission{Resource: "*", Action: "post"}
	g, err = groups.Update("readers", func(g store.Group) (store.Group, error) {
		g.Permissions = append(g.Permissions, write)
		return g, nil
	})
	must(t, "update", err)
	got, err := groups.Get("readers")
	must(t, "get", err)
	require.Equal(t, uint64(2), got.Version, "get after update = %+v", got)
	require.Equal(t, []store.Permission{perm, write}, got.Permissions, "get after update = %+v", got)
	_, err = groups.Update("readers", func(g store.Group) (store.Group, error) { g.Name = "writers"; return g, nil })
	mustErr(t, "rename", err, store.ErrInvalid)

	_, err = groups.Create(store.Group{Name: "admins"})
	must(t, "create second", err)
	list, err := groups.List("", 0)
	must(t, "list", err)
	require.Len(t, list, 2, "list = %+v", list)
	require.Equal(t, "admins", list[0].Name, "list = %+v", list)
	require.Equal(t, "readers", list[1].Name, "list = %+v", list)
	must(t, "delete", groups.Delete("readers"))
	_, err = groups.Get("readers")
	mustErr(t, "get deleted", err, store.ErrNotFound)
	mustErr(t, "delete twice", groups.Delete("readers"), store.ErrNotFound)
}

func checkApplications(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	apps := st.Applications()
	now := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	a, err := apps.Create(store.Application{
		Name: "ledger-sync", ClientID: "client-1", Groups: []string{"writers"},
		SecretHashes: []store.SecretHash{{Hash: []byte("h1"), CreatedAt: now}},
		CertSPKI:     bytes.Repeat([]byte{7}, 32),
	})
	must(t, "create", err)
	require.NotEmpty(t, a.ID, "create = %+v", a)
	require.Equal(t, uint64(1), a.Version, "create = %+v", a)
	_, err = apps.Create(store.Application{Name: "other", ClientID: "client-1"})
	mustErr(t, "duplicate client id", err, store.ErrExists)
	_, err = apps.Create(store.Application{Name: "no client id"})
	mustErr(t, "empty client id", err, store.ErrInvalid)

	byClient, err := apps.GetByClientID("client-1")
	must(t, "get by client id", err)
	require.Equal(t, a.ID, byClient.ID, "get by client id = %+v", byClient)
	require.Equal(t, []byte("h1"), byClient.SecretHashes[0].Hash, "get by client id = %+v", byClient)

	// Rotation with grace: two hashes, and a client ID change moves the index.
	_, err = apps.Update(a.ID, func(a store.Application) (store.Application, error) {
		a.SecretHashes = append(a.SecretHashes, store.SecretHash{Hash: []byte("h2"), CreatedAt: now.Add(time.Hour)})
		a.SecretHashes[0].ExpiresAt = now.Add(2 * time.Hour)
		a.ClientID = "client-2"
		return a, nil
	})
	must(t, "update", err)
	_, err = apps.GetByClientID("client-1")
	mustErr(t, "old client id", err, store.ErrNotFound)
	got, err := apps.GetByClientID("client-2")
	must(t, "new client id", err)
	require.Equal(t, uint64(2), got.Version, "after update = %+v", got)
	require.Len(t, got.SecretHashes, 2, "after update = %+v", got)
	require.True(t, got.SecretHashes[0].ExpiresAt.Equal(now.Add(2*time.Hour)), "after update = %+v", got)

	b, err := apps.Create(store.Application{Name: "b", ClientID: "client-1"})
	must(t, "reuse of released client id", err)
	_, err = apps.Update(b.ID, func(x store.Application) (store.Application, error) { x.ClientID = "client-2"; return x, nil })
	mustErr(t, "move onto taken client id", err, store.ErrExists)

	must(t, "delete", apps.Delete(a.ID))
	_, err = apps.GetByClientID("client-2")
	mustErr(t, "client id after delete", err, store.ErrNotFound)
	n, err := apps.Count()
	must(t, "count", err)
	require.Equal(t, 1, n, "count")
}

func checkRefreshFamilies(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	fams := st.RefreshFamilies()
	now := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	h1, h2, h3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)

	f, err := fams.Create(store.RefreshFamily{Subject: "lerian/u1", ClientID: "c", CurrentHash: h1, ExpiresAt: now.Add(time.Hour)})
	must(t, "create", err)
	_, err = fams.Create(store.RefreshFamily{Subject: "lerian/u2", ClientID: "c", CurrentHash: h1})
	mustErr(t, "duplicate token hash", err, store.ErrExists)
	_, err = fams.Create(store.RefreshFamily{Subject: "lerian/u2", ClientID: "c"})
	mustErr(t, "empty token hash", err, store.ErrInvalid)

	// Rotate twice, each rotation guarded by the presented hash.
	rotate := func(from, to []byte) error {
		_, err := fams.Update(f.ID, func(old store.RefreshFamily) (store.RefreshFamily, error) {
			if !bytes.Equal(old.CurrentHash, from) {
				return old, store.ErrConflict
			}
			old.CurrentHash = to
			return old, nil
		})
		return err
	}
	must(t, "rotate 1->2", rotate(h1, h2))
	must(t, "rotate 2->3", rotate(h2, h3))
	mustErr(t, "replayed rotation", rotate(h1, bytes.Repeat([]byte{9}, 32)), store.ErrConflict)

	for _, h := range [][]byte{h1, h2, h3} {
		got, err := fams.GetByTokenHash(h)
		must(t, "get by token hash", err)
		require.Equal(t, f.ID, got.ID, "get by hash %x = %+v", h[:1], got)
		require.Equal(t, h3, got.CurrentHash, "get by hash %x = %+v", h[:1], got)
	}
	got, err := fams.Get(f.ID)
	must(t, "get", err)
	require.Len(t, got.PreviousHashes, 2, "previous hashes not remembered: %+v", got)
	require.Equal(t, uint64(3), got.Version, "previous hashes not remembered: %+v", got)
	_, err = fams.Create(store.RefreshFamily{Subject: "lerian/u2", ClientID: "c", CurrentHash: h2})
	mustErr(t, "reuse of a rotated-away hash", err, store.ErrExists)

	g, err := fams.Create(store.RefreshFamily{Subject: "lerian/u1", ClientID: "d", CurrentHash: bytes.Repeat([]byte{4}, 32), ExpiresAt: now.Add(-time.Minute)})
	must(t, "create second", err)
	_, err = fams.Create(store.RefreshFamily{Subject: "lerian/u2", ClientID: "d", CurrentHash: bytes.Repeat([]byte{5}, 32)})
	must(t, "create third", err)
	bySubject, err := fams.ListBySubject("lerian/u1")
	must(t, "list by subject", err)
	ids := []string{bySubject[0].ID, bySubject[1].ID}
	slices.Sort(ids)
	want := []string{f.ID, g.ID}
	slices.Sort(want)
	require.Len(t, bySubject, 2, "list by subject = %v, want %v", ids, want)
	require.Equal(t, want, ids, "list by subject = %v, want %v", ids, want)

	n, err := fams.DeleteExpired(now)
	must(t, "delete expired", err)
	require.Equal(t, 1, n, "delete expired removed %d, want 1", n)
	_, err = fams.Get(g.ID)
	mustErr(t, "expired family", err, store.ErrNotFound)

	must(t, "delete", fams.Delete(f.ID))
	for _, h := range [][]byte{h1, h2, h3} {
		_, err := fams.GetByTokenHash(h)
		mustErr(t, "hash index after delete", err, store.ErrNotFound)
	}
	bySubject, err = fams.ListBySubject("lerian/u1")
	must(t, "list by subject after delete", err)
	require.Empty(t, bySubject, "subject index kept %d deleted families", len(bySubject))
}

func checkSigningKeys(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	keys := st.SigningKeys()
	der := []byte("pkcs8-private-key-bytes-for-test")
	sealed, err := keys.SealPrivate("kid-1", der)
	must(t, "seal private", err)
	k, err := keys.Create(store.SigningKey{KID: "kid-1", Alg: "ES256", Private: sealed, Public: []byte("pub")})
	must(t, "create", err)
	_, err = keys.Create(store.SigningKey{KID: "kid-1", Alg: "ES256"})
	mustErr(t, "duplicate kid", err, store.ErrExists)

	got, err := keys.Get("kid-1")
	must(t, "get", err)
	plain, err := keys.OpenPrivate(got)
	must(t, "open private", err)
	require.Equal(t, der, plain, "private key does not round-trip")
	clear(plain)

	retired := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	_, err = keys.Update(k.KID, func(k store.SigningKey) (store.SigningKey, error) {
		k.RetiredAt = retired
		k.NotAfter = retired.Add(24 * time.Hour)
		return k, nil
	})
	must(t, "retire", err)
	list, err := keys.List()
	must(t, "list", err)
	require.Len(t, list, 1, "list = %+v", list)
	require.True(t, list[0].RetiredAt.Equal(retired), "list = %+v", list)
	require.Equal(t, uint64(2), list[0].Version, "list = %+v", list)
	must(t, "delete", keys.Delete("kid-1"))
	_, err = keys.Get("kid-1")
	mustErr(t, "get deleted", err, store.ErrNotFound)
}

func checkAudit(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	_, err := audit.Last(st)
	mustErr(t, "last of empty log", err, store.ErrNotFound)
	res, err := audit.Verify(st)
	must(t, "verify empty log", err)
	require.True(t, res.OK, "verify of empty log = %+v", res)
	require.Equal(t, uint64(0), res.Entries, "verify of empty log = %+v", res)

	var emitted []uint64
	log, err := audit.Open(st, Queue(t, st), audit.Options{Emit: func(e store.AuditEntry) { emitted = append(emitted, e.Seq) }})
	must(t, "open audit log", err)
	defer log.Close()
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for seq := uint64(1); seq <= 5; seq++ {
		e := store.AuditEntry{Time: at.Add(time.Duration(seq) * time.Second), Type: "user.create",
			Actor: "uid:0", Target: "user:u", Result: "ok", Source: "admin-socket",
			Detail: map[string]string{"n": string(rune('0' + seq))}}
		must(t, "record", log.Record(context.Background(), e))
	}
	must(t, "sync", log.Sync())

	last, err := audit.Last(st)
	must(t, "last", err)
	e4, err := audit.Get(st, 4)
	must(t, "get 4", err)
	require.Equal(t, uint64(5), last.Seq, "last = %+v", last)
	require.Equal(t, e4.Hash, last.PrevHash, "last = %+v", last)
	require.Equal(t, "5", last.Detail["n"], "last = %+v", last)
	require.Equal(t, "uid:0", last.Actor, "last = %+v", last)
	require.Equal(t, "user:u", last.Target, "last = %+v", last)
	require.Equal(t, "ok", last.Result, "last = %+v", last)
	require.Equal(t, "admin-socket", last.Source, "last = %+v", last)
	wantHash, err := audit.Hash(last)
	require.NoError(t, err, "last entry's hash is not audit.Hash of it (%v)", err)
	require.Equal(t, wantHash, last.Hash, "last entry's hash is not audit.Hash of it (%v)", err)
	seq, head := log.Head()
	require.Equal(t, uint64(5), seq, "head = %d %x, want 5 %x", seq, head, last.Hash)
	require.Equal(t, last.Hash, head, "head = %d %x, want 5 %x", seq, head, last.Hash)
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, emitted, "emitted %v, want 1..5 in order", emitted)
	e3, err := audit.Get(st, 3)
	must(t, "get", err)
	require.Equal(t, uint64(3), e3.Seq, "get 3 = %+v", e3)
	require.True(t, e3.Time.Equal(at.Add(3*time.Second)), "get 3 = %+v", e3)
	require.Equal(t, "user.create", e3.Type, "get 3 = %+v", e3)
	_, err = audit.Get(st, 6)
	mustErr(t, "get missing", err, store.ErrNotFound)
	page, err := audit.List(st, 2, 2)
	must(t, "list", err)
	require.Len(t, page, 2, "list(2,2) = %+v", page)
	require.Equal(t, uint64(2), page[0].Seq, "list(2,2) = %+v", page)
	require.Equal(t, uint64(3), page[1].Seq, "list(2,2) = %+v", page)
	all, err := audit.List(st, 0, 0)
	must(t, "list all", err)
	require.Len(t, all, 5, "list all = %d entries", len(all))
	var scanned []uint64
	must(t, "scan", audit.Scan(st, 4, func(e store.AuditEntry) (bool, error) { scanned = append(scanned, e.Seq); return true, nil }))
	require.Equal(t, []uint64{4, 5}, scanned, "scan from 4 = %v", scanned)

	res, err = audit.Verify(st)
	must(t, "verify", err)
	require.True(t, res.OK, "verify = %+v", res)
	require.Equal(t, uint64(5), res.Entries, "verify = %+v", res)
	require.Equal(t, last.Hash, res.Head, "verify = %+v", res)
}

// auditStaged: entries staged in a transaction wait in the queue with the
// change, are not chained by the store itself, and are chained (with
// what the writer assigns, whatever the caller set) by the audit log.
func checkAuditStaged(t *testing.T, h *harness) {
	st, _ := h.fresh(t)
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	err := st.Update(func(tx *store.Tx) error {
		for i, e := range []store.AuditEntry{
			{Type: "a"},
			{Type: "b", Time: at},
			{Type: "c", Seq: 99, PrevHash: []byte("forged"), Hash: []byte("forged")},
		} {
			e.Target = strconv.Itoa(i)
			if err := tx.Audit().Stage(e); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, "stage", err)
	must(t, "stage and abort", ignore(st.Update(func(tx *store.Tx) error {
		if err := tx.Audit().Stage(store.AuditEntry{Type: "aborted"}); err != nil {
			return err
		}
		return errAbort
	}), errAbort))
	pending, err := st.AuditLog().Pending(0, 0)
	must(t, "pending", err)
	require.Len(t, pending, 3, "pending = %d entries, want 3", len(pending))
	for _, p := range pending {
		require.Equal(t, uint64(0), p.Entry.Seq, "pending entry = %+v", p.Entry)
		require.Nil(t, p.Entry.PrevHash, "pending entry = %+v", p.Entry)
		require.Nil(t, p.Entry.Hash, "pending entry = %+v", p.Entry)
		require.False(t, p.Entry.Time.IsZero(), "pending entry = %+v", p.Entry)
		require.NotEqual(t, "aborted", p.Entry.Type, "pending entry = %+v", p.Entry)
	}
	two, err := st.AuditLog().Pending(0, 2)
	must(t, "pending with limit", err)
	require.Len(t, two, 2, "pending(2) = %d entries", len(two))
	_, err = audit.Last(st)
	mustErr(t, "staged entries are not chained by the store", err, store.ErrNotFound)

	log, err := audit.Open(st, Queue(t, st), audit.Options{})
	must(t, "open audit log", err)
	defer log.Close()
	pending, err = st.AuditLog().Pending(0, 0)
	must(t, "pending after open", err)
	require.Empty(t, pending, "%d entries still pending after open", len(pending))
	all, err := audit.List(st, 1, 0)
	must(t, "list", err)
	types := ""
	for _, e := range all {
		types += e.Type
	}
	require.Len(t, all, 3, "chained %+v", all)
	require.Len(t, types, 3, "chained %+v", all)
	res, err := audit.Verify(st)
	must(t, "verify", err)
	require.True(t, res.OK, "verify = %+v", res)
	require.Equal(t, uint64(3), res.Entries, "verify = %+v", res)
}

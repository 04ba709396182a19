package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

// reopen: every kind of record survives Close and Open, and the audit
// chain continues where it was.
func checkReopen(t *testing.T, h *harness) {
	dir := t.TempDir()
	st, err := h.open(t, dir)
	must(t, "open", err)
	u, err := st.Users().Create(store.User{Username: "persisted", Email: "p@example.test", Groups: []string{"g"}})
	must(t, "create user", err)
	_, err = st.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
		c.ID, c.PasswordHash = u.ID, phc
		return c, nil
	})
	must(t, "put credential", err)
	_, err = st.Logins().Put(u.ID, func(l store.LoginState) (store.LoginState, error) { l.FailedLogins = 3; return l, nil })
	must(t, "put login state", err)
	_, err = st.Groups().Create(store.Group{Name: "g"})
	must(t, "create group", err)
	a, err := st.Applications().Create(store.Application{Name: "a", ClientID: "cid", Groups: []string{"g"}})
	must(t, "create app", err)
	f, err := st.RefreshFamilies().Create(store.RefreshFamily{Subject: "s", ClientID: "cid", CurrentHash: []byte("hash")})
	must(t, "create family", err)
	_, err = st.SigningKeys().Create(store.SigningKey{KID: "k", Alg: "EdDSA"})
	must(t, "create key", err)
	log, err := audit.Open(st, Queue(t, st), audit.Options{})
	must(t, "open audit log", err)
	must(t, "record", log.Record(context.Background(), store.AuditEntry{Type: "t"}))
	must(t, "close audit log", log.Close())
	must(t, "close", st.Close())

	st = h.openIn(t, dir)
	got, err := st.Users().GetByUsername("persisted")
	must(t, "user after reopen", err)
	require.Equal(t, u.ID, got.ID, "user after reopen = %+v", got)
	require.Equal(t, "p@example.test", got.Email, "user after reopen = %+v", got)
	c, err := st.Credentials().Get(u.ID)
	must(t, "credential after reopen", err)
	require.Equal(t, phc, c.PasswordHash, "credential after reopen = %+v", c)
	l, err := st.Logins().Get(u.ID)
	must(t, "login state after reopen", err)
	require.Equal(t, 3, l.FailedLogins, "lockout counter after reopen")
	_, err = st.Groups().Get("g")
	must(t, "group after reopen", err)
	members, err := st.Groups().Members("g")
	must(t, "members after reopen", err)
	require.Len(t, members, 2, "members after reopen = %+v", members)
	ga, err := st.Applications().GetByClientID("cid")
	must(t, "app after reopen", err)
	require.Equal(t, a.ID, ga.ID, "app after reopen = %+v", ga)
	gf, err := st.RefreshFamilies().GetByTokenHash([]byte("hash"))
	must(t, "family after reopen", err)
	require.Equal(t, f.ID, gf.ID, "family after reopen = %+v", gf)
	_, err = st.SigningKeys().Get("k")
	must(t, "key after reopen", err)
	last, err := audit.Last(st)
	must(t, "audit after reopen", err)
	require.Equal(t, uint64(1), last.Seq, "last audit seq after reopen = %d", last.Seq)
	// The store keeps working after reopen: the next entry continues the chain.
	log, err = audit.Open(st, Queue(t, st), audit.Options{})
	must(t, "reopen audit log", err)
	defer log.Close()
	seq, head := log.Head()
	require.Equal(t, uint64(1), seq, "audit head after reopen = %d %x, want 1 %x", seq, head, last.Hash)
	require.Equal(t, last.Hash, head, "audit head after reopen = %d %x, want 1 %x", seq, head, last.Hash)
	must(t, "record after reopen", log.Record(context.Background(), store.AuditEntry{Type: "t"}))
	res, err := audit.Verify(st)
	must(t, "verify", err)
	require.True(t, res.OK, "verify after reopen = %+v", res)
	require.Equal(t, uint64(2), res.Entries, "verify after reopen = %+v", res)
}

// encryptedAtRest: after Close, no file in the data directory contains
// any of the distinctive values written, byte for byte.
func checkEncryptedAtRest(t *testing.T, h *harness) {
	dir := t.TempDir()
	st, err := h.open(t, dir)
	must(t, "open", err)
	secret := []byte("SECRET-totp-seed-7f3a9c1e5b2d4f6a")
	marks := [][]byte{
		[]byte("zanzibar-username-83641"),
		[]byte("quixotic.mail.29517@example.test"),
		[]byte("Wenceslas-first-name-7731"),
		[]byte("client-id-marker-55120"),
		[]byte("group-marker-90412"),
		[]byte("audit-actor-marker-11873"),
		[]byte(phc),
		secret,
		// The record encoding itself must not be visible either.
		[]byte(`"passwordHash"`),
		[]byte("idx/username/"),
		[]byte("idx/email/"),
		[]byte("idx/member/"),
		[]byte(`"user.create"`),
	}
	for i := range 50 {
		err := st.Update(func(tx *store.Tx) error {
			u, err := tx.Users().Create(store.User{Username: string(marks[0]) + "-" + strconv.Itoa(i), Email: strconv.Itoa(i) + string(marks[1]), FirstName: string(marks[2])})
			if err != nil {
				return err
			}
			seed, err := tx.Credentials().SealTOTPSeed(u.ID, secret)
			if err != nil {
				return err
			}
			_, err = tx.Credentials().Put(u.ID, func(c store.Credential, _ bool) (store.Credential, error) {
				c.ID, c.PasswordHash, c.TOTPSeed = u.ID, phc, seed
				return c, nil
			})
			if err != nil {
				return err
			}
			return tx.Audit().Stage(store.AuditEntry{Type: "user.create", Actor: string(marks[5]), Target: u.ID})
		})
		must(t, "create user", err)
	}
	_, err = st.Applications().Create(store.Application{Name: "n", ClientID: string(marks[3]), Groups: []string{string(marks[4])}})
	must(t, "create app", err)
	_, err = st.Groups().Create(store.Group{Name: string(marks[4])})
	must(t, "create group", err)
	log, err := audit.Open(st, Queue(t, st), audit.Options{})
	must(t, "open audit log", err)
	must(t, "record", log.Record(context.Background(), store.AuditEntry{Type: "t", Actor: string(marks[5])}))
	must(t, "close audit log", log.Close())
	// Also look for the secret in the encodings a careless writer would use.
	marks = append(marks, []byte(base64.StdEncoding.EncodeToString(secret)))

	// While open, the records sit in the memtable logs (what a crash
	// leaves behind); after Close, in flushed tables. Check both.
	t.Run("open", func(t *testing.T) { scanDir(t, dir, marks) })
	must(t, "close", st.Close())
	t.Run("closed", func(t *testing.T) { scanDir(t, dir, marks) })
}

func scanDir(t *testing.T, dir string, marks [][]byte) {
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, m := range marks {
			assert.False(t, bytes.Contains(data, m), "%s contains %q in clear", filepath.Base(path), m)
		}
		return nil
	})
	must(t, "walk data dir", err)
	require.NotZero(t, files, "data directory is empty: nothing was checked")
}

// closed: every operation after Close reports ErrClosed instead of
// reaching Badger, and Close is idempotent.
func checkClosed(t *testing.T, h *harness) {
	st, err := h.open(t, t.TempDir())
	must(t, "open", err)
	must(t, "close", st.Close())
	must(t, "second close", st.Close())
	checks := map[string]error{}
	_, checks["get"] = st.Users().Get("x")
	_, checks["create"] = st.Users().Create(store.User{Username: "x"})
	_, checks["list"] = st.Groups().List("", 0)
	_, checks["seal"] = st.Barrier().SealField("r", "f", []byte("x"))
	_, checks["rotate"] = st.Barrier().RotateFieldKey()
	checks["update"] = st.Update(func(*store.Tx) error { return nil })
	checks["view"] = st.View(func(*store.Tx) error { return nil })
	_, checks["credential"] = st.Credentials().Get("x")
	_, checks["login state"] = st.Logins().Put("x", func(l store.LoginState) (store.LoginState, error) { return l, nil })
	_, checks["members"] = st.Groups().Members("g")
	_, checks["pending"] = st.AuditLog().Pending(0, 0)
	_, checks["audit last"] = audit.Last(st)
	checks["audit update"] = st.AuditLog().Update(func(*store.AuditTxn) error { return nil })
	_, checks["audit open"] = audit.Open(st, Queue(t, st), audit.Options{})
	_, checks["verify"] = audit.Verify(st)
	checks["backup"] = st.Barrier().Backup(&bytes.Buffer{})
	for name, err := range checks {
		assert.ErrorIs(t, err, store.ErrClosed, "%s after close: %v, want ErrClosed", name, err)
	}
}

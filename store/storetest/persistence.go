package storetest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/accessd/accessd/store"
)

// reopen: every kind of record survives Close and Open.
func (h *harness) reopen(t *testing.T) {
	dir := t.TempDir()
	st, err := h.open(dir)
	must(t, "open", err)
	u, err := st.Users().Create(store.User{Username: "persisted", Email: "p@example.test", PasswordHash: phc})
	must(t, "create user", err)
	_, err = st.Groups().Create(store.Group{Name: "g"})
	must(t, "create group", err)
	a, err := st.Applications().Create(store.Application{Name: "a", ClientID: "cid"})
	must(t, "create app", err)
	f, err := st.RefreshFamilies().Create(store.RefreshFamily{Subject: "s", ClientID: "cid", CurrentHash: []byte("hash")})
	must(t, "create family", err)
	_, err = st.SigningKeys().Create(store.SigningKey{KID: "k", Alg: "EdDSA"})
	must(t, "create key", err)
	must(t, "append", st.AuditEntries().Append(store.AuditEntry{Seq: 1, Type: "t"}))
	must(t, "close", st.Close())

	st = h.openIn(t, dir)
	got, err := st.Users().GetByUsername("PERSISTED")
	must(t, "user after reopen", err)
	if got.ID != u.ID || got.PasswordHash != phc {
		t.Fatalf("user after reopen = %+v", got)
	}
	_, err = st.Groups().Get("g")
	must(t, "group after reopen", err)
	ga, err := st.Applications().GetByClientID("cid")
	must(t, "app after reopen", err)
	if ga.ID != a.ID {
		t.Fatalf("app after reopen = %+v", ga)
	}
	gf, err := st.RefreshFamilies().GetByTokenHash([]byte("hash"))
	must(t, "family after reopen", err)
	if gf.ID != f.ID {
		t.Fatalf("family after reopen = %+v", gf)
	}
	_, err = st.SigningKeys().Get("k")
	must(t, "key after reopen", err)
	last, err := st.AuditEntries().Last()
	must(t, "audit after reopen", err)
	if last.Seq != 1 {
		t.Fatalf("last audit seq after reopen = %d", last.Seq)
	}
	// The store keeps working after reopen: the next append continues the log.
	must(t, "append after reopen", st.AuditEntries().Append(store.AuditEntry{Seq: 2, Type: "t"}))
}

// encryptedAtRest: after Close, no file in the data directory contains
// any of the distinctive values written, byte for byte.
func (h *harness) encryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	st, err := h.open(dir)
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
	}
	for i := range 50 {
		u, err := st.Users().Create(store.User{Username: string(marks[0]) + "-" + strconv.Itoa(i), Email: string(marks[1]), FirstName: string(marks[2]), PasswordHash: phc})
		must(t, "create user", err)
		seed, err := st.Users().SealTOTPSeed(u.ID, secret)
		must(t, "seal", err)
		_, err = st.Users().Update(u.ID, func(u store.User) (store.User, error) { u.MFA.TOTPSeed = seed; return u, nil })
		must(t, "store seed", err)
	}
	_, err = st.Applications().Create(store.Application{Name: "n", ClientID: string(marks[3])})
	must(t, "create app", err)
	_, err = st.Groups().Create(store.Group{Name: string(marks[4])})
	must(t, "create group", err)
	must(t, "append", st.AuditEntries().Append(store.AuditEntry{Seq: 1, Type: "t", Actor: string(marks[5])}))
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
			if bytes.Contains(data, m) {
				t.Errorf("%s contains %q in clear", filepath.Base(path), m)
			}
		}
		return nil
	})
	must(t, "walk data dir", err)
	if files == 0 {
		t.Fatal("data directory is empty: nothing was checked")
	}
}

// closed: every operation after Close reports ErrClosed instead of
// reaching Badger, and Close is idempotent.
func (h *harness) closed(t *testing.T) {
	st, err := h.open(t.TempDir())
	must(t, "open", err)
	must(t, "close", st.Close())
	must(t, "second close", st.Close())
	checks := map[string]error{}
	_, checks["get"] = st.Users().Get("x")
	_, checks["create"] = st.Users().Create(store.User{Username: "x"})
	_, checks["list"] = st.Groups().List("", 0)
	_, checks["seal"] = st.SealField("r", "f", []byte("x"))
	_, checks["rotate"] = st.RotateFieldKey()
	checks["append"] = st.AuditEntries().Append(store.AuditEntry{Seq: 1})
	checks["backup"] = st.Backup(&bytes.Buffer{})
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

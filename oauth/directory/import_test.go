package directory_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/store"
)

// The values of testdata/lerian-export.json this file checks against.
const (
	exportAppID    = "019c96a0-0c0c-7221-8cf3-13313fb60081"
	exportClientID = "019c96a0-6a10-7abc-d1e2-8c9d0e1f2a3b"
	exportSecret   = "019c96a0-6a20-7bcd-e1f2-9d0e1f2a3b4c"
	exportJohnID   = "019c96a0-0c21-71f9-a487-66a1258278a1"
	exportJohnPass = "Velvet-Orchard-Lantern-93" // the bcrypt hash's password
	exportJohnHash = "$2a$10$OBk7xJZbsTtfNXDYCQbGq.cJEzOfD/Zft6hn9JBCqozCXpzRxPbRm"
	exportJaneID   = "019c96a0-6c20-7bcd-e1f2-5d6e7f8a9b0c"
)

func readExport(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/lerian-export.json")
	require.NoError(t, err)
	return b
}

// asJSON renders v as an answer would be, to look for secrets in it.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func auditOf(t *testing.T, e *env, typ string) []api.AuditEntry {
	t.Helper()
	es, err := e.Review.AuditList(time.Time{}, typ, 0)
	require.NoError(t, err)
	return es
}

func TestImportLerianExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	// The export's own hash (cost 10) verifies in TestHasherVerifiesBcrypt;
	// here the file carries a hash of the same password at bcrypt's least
	// cost, so that the sign-ins that check it cost a hundredth as much
	// (under -race a cost-10 check takes seconds). The import is the same.
	cheapJohn, err := bcryptOf(t, exportJohnPass)
	require.NoError(t, err)
	require.Contains(t, string(readExport(t)), exportJohnHash)
	data := bytes.Replace(readExport(t), []byte(exportJohnHash), []byte(cheapJohn), 1)
	bcryptPfx := cheapJohn[:7] // $2a$04$

	// Dry run: the plan, nothing written, no secret and no password.
	dry, err := e.Service.Importer().Import(ctx, admin, data, true)
	require.NoError(t, err)
	require.True(t, dry.DryRun)
	require.Empty(t, dry.Passwords)
	require.Equal(t, []api.ImportRecord{
		{Kind: "group", Name: "midaz-viewer-group", ID: "midaz-viewer-group", Action: "unchanged", Detail: "exists in accessd"},
		{Kind: "group", Name: "midaz-editor-group", ID: "midaz-editor-group", Action: "unchanged", Detail: "exists in accessd"},
		{Kind: "user", Name: "johndoe", ID: exportJohnID, Action: "create", Detail: "keeps its bcrypt password hash, re-made as argon2id at first sign-in"},
		{Kind: "user", Name: "janedoe", ID: exportJaneID, Action: "create", Detail: "one-time password, to be changed at first sign-in"},
		{Kind: "application", Name: exportClientID, ID: exportAppID, Action: "create", Detail: "keeps its clientId and secret (stored as a keyed hash)"},
	}, dry.Records)
	require.NotContains(t, asJSON(t, dry), exportSecret)
	_, err = e.Service.Users().GetUser("johndoe")
	require.ErrorIs(t, err, api.ErrNotFound, "a dry run writes nothing")
	_, err = e.Service.Applications().GetApplication(exportClientID)
	require.ErrorIs(t, err, api.ErrNotFound, "a dry run writes nothing")
	require.Empty(t, auditOf(t, e, "lerian.import"))

	// The import.
	res, err := e.Service.Importer().Import(ctx, admin, data, false)
	require.NoError(t, err)
	require.False(t, res.DryRun)
	require.Len(t, res.Records, 5)
	for i, r := range res.Records {
		require.Equal(t, dry.Records[i], r, "the import does what the dry run said")
	}
	require.Len(t, res.Passwords, 1, "only the user without a hash gets a one-time password")
	require.Equal(t, "janedoe", res.Passwords[0].Username)
	require.Len(t, res.Passwords[0].Password, 24)
	require.NotContains(t, asJSON(t, res), exportSecret)

	// Users keep their IDs; memberships are the union of both lists.
	john, err := e.Service.Users().GetUser("johndoe")
	require.NoError(t, err)
	require.Equal(t, exportJohnID, john.ID)
	require.Equal(t, []string{"midaz-contributor-group", "midaz-viewer-group"}, john.Groups)
	jane, err := e.Service.Users().GetUser(exportJaneID)
	require.NoError(t, err)
	require.Equal(t, []string{"midaz-editor-group", "midaz-viewer-group"}, jane.Groups, "groups[].users adds memberships")
	require.True(t, jane.MustChangePassword)

	// The bcrypt user signs in with the old password; the hash is then
	// argon2id. A wrong password is refused before and after.
	_, err = e.SignIn.SignIn(ctx, admin, "johndoe", []byte("not-the-password-at-all"))
	require.ErrorIs(t, err, api.ErrBadLogin)
	c, err := e.Store.Credentials().Get(exportJohnID)
	require.NoError(t, err)
	require.Equal(t, cheapJohn, c.PasswordHash, "kept as imported until a sign-in passes")
	si, err := e.SignIn.SignIn(ctx, admin, "johndoe", []byte(exportJohnPass))
	require.NoError(t, err)
	require.Equal(t, exportJohnID, si.User.ID)
	c, err = e.Store.Credentials().Get(exportJohnID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(c.PasswordHash, "$argon2id$"), "re-made as argon2id at the first sign-in, got %.10s", c.PasswordHash)
	require.NoError(t, credential.VerifyPassword(c.PasswordHash, []byte(exportJohnPass)))
	_, err = e.SignIn.SignIn(ctx, admin, "johndoe", []byte(exportJohnPass))
	require.NoError(t, err, "and the argon2id hash verifies")

	// The one-time password works once, for a change only.
	_, err = e.SignIn.SignIn(ctx, admin, "janedoe", []byte(res.Passwords[0].Password))
	require.ErrorIs(t, err, api.ErrMustChange)

	// The application: its existing secret authenticates it, under its
	// own clientId, with its groups.
	cl, err := e.Clients.AuthenticateClient(ctx, admin, exportClientID, []byte(exportSecret))
	require.NoError(t, err)
	require.Equal(t, exportAppID, cl.ID)
	_, err = e.Clients.AuthenticateClient(ctx, admin, exportClientID, []byte(strings.Replace(exportSecret, "019c", "019d", 1)))
	require.ErrorIs(t, err, api.ErrBadLogin)
	app, err := e.Service.Applications().GetApplication(exportClientID)
	require.NoError(t, err)
	require.Equal(t, []string{"midaz-viewer-group"}, app.Groups)
	require.Equal(t, time.Date(2025, 4, 8, 8, 1, 30, 0, time.UTC), app.CreatedAt)

	// Audited: one entry per created record and a summary, no secret.
	require.Len(t, auditOf(t, e, "user.import"), 2)
	require.Len(t, auditOf(t, e, "app.import"), 1)
	sum := auditOf(t, e, "lerian.import")
	require.Len(t, sum, 1)
	require.Equal(t, map[string]string{"users": "2", "applications": "1", "unchanged": "2"}, sum[0].Detail)
	all, err := e.Review.AuditList(time.Time{}, "", 0)
	require.NoError(t, err)
	require.NotContains(t, asJSON(t, all), exportSecret)
	require.NotContains(t, asJSON(t, all), bcryptPfx)

	// A second import of the same file changes nothing.
	again, err := e.Service.Importer().Import(ctx, admin, data, false)
	require.NoError(t, err)
	require.Empty(t, again.Passwords)
	for _, r := range again.Records {
		require.Equal(t, "unchanged", r.Action, "%+v", r)
	}
	require.Len(t, auditOf(t, e, "lerian.import"), 1, "nothing to write, nothing audited")
	c2, err := e.Store.Credentials().Get(exportJaneID)
	require.NoError(t, err)
	jc, err := e.Store.Credentials().Get(exportJaneID)
	require.NoError(t, err)
	require.Equal(t, jc.PasswordHash, c2.PasswordHash)
}

// TestImportSecretStoredAsHMAC guards "no endpoint ever returns an
// existing secret, and the store holds only its keyed hash".
func TestImportSecretStoredAsHMAC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	_, err := e.Service.Importer().Import(context.Background(), admin, readExport(t), false)
	require.NoError(t, err)

	rec, err := e.Store.Applications().Get(exportAppID)
	require.NoError(t, err)
	require.Len(t, rec.SecretHashes, 1)
	require.Equal(t, credential.HashClientSecret(e.Store, []byte(exportSecret)), rec.SecretHashes[0].Hash, "stored as the pepper's HMAC")
	raw, err := json.Marshal(rec)
	require.NoError(t, err)
	require.False(t, bytes.Contains(raw, []byte(exportSecret)), "the record holds the secret in clear")
	require.False(t, bytes.Contains(raw, []byte(strings.ReplaceAll(exportSecret, "-", ""))))

	got, err := e.Service.Applications().GetApplication(exportClientID)
	require.NoError(t, err)
	list, err := e.Service.Applications().ListApplications()
	require.NoError(t, err)
	review, err := e.Review.Review(0)
	require.NoError(t, err)
	for _, v := range []any{got, list, review} {
		require.NotContains(t, asJSON(t, v), exportSecret)
	}
}

// TestImportAllOrNothing: a file whose last record conflicts with what
// accessd holds writes nothing at all, not even the records before it.
func TestImportAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	_, err := e.Service.Importer().Import(ctx, admin, readExport(t), false)
	require.NoError(t, err)

	// The same application with another secret (rotated in Lerian since),
	// after two new users.
	second := []byte(`{"users":[
	  {"id":"019c96a1-0000-7000-8000-000000000001","username":"newbie","email":"newbie@example.com","firstName":"N","lastName":"B","groups":["midaz-viewer-group"]},
	  {"id":"019c96a1-0000-7000-8000-000000000002","username":"other","email":"other@example.com","firstName":"O","lastName":"T","groups":[],
	   "passwordHash":"$2a$10$OBk7xJZbsTtfNXDYCQbGq.cJEzOfD/Zft6hn9JBCqozCXpzRxPbRm"}],
	 "applications":[{"id":"` + exportAppID + `","clientId":"` + exportClientID + `","clientSecret":"0123456789abcdef0123456789abcdef0123",
	   "name":"Midaz","description":"Midaz Used By Application X","createdAt":"2025-04-08T08:01:30.000Z","groups":["midaz-viewer-group"]}]}`)
	before := len(auditOf(t, e, ""))

	dry, err := e.Service.Importer().Import(ctx, admin, second, true)
	require.NoError(t, err)
	require.Equal(t, "conflict", dry.Records[2].Action)
	require.Contains(t, dry.Records[2].Detail, "clientSecret")
	require.NotContains(t, asJSON(t, dry), "0123456789abcdef0123456789abcdef0123")

	_, err = e.Service.Importer().Import(ctx, admin, second, false)
	require.ErrorIs(t, err, api.ErrConflict)
	require.Contains(t, err.Error(), "nothing was imported")
	require.NotContains(t, err.Error(), "0123456789abcdef0123456789abcdef0123")
	for _, name := range []string{"newbie", "other"} {
		_, err = e.Service.Users().GetUser(name)
		require.ErrorIs(t, err, api.ErrNotFound, "%s was written although the import failed", name)
	}
	_, err = e.Clients.AuthenticateClient(ctx, admin, exportClientID, []byte(exportSecret))
	require.NoError(t, err, "the stored secret is untouched")
	require.Len(t, auditOf(t, e, ""), before, "nothing audited as done")
}

// TestImportRefusals: what the parser and the planner refuse, with the
// catalogue error and a message that names the fix (never the secret).
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	const user = `{"id":"019c96a1-0000-7000-8000-00000000000a","username":"ana","email":"ana@example.com","firstName":"A","lastName":"N","groups":[]}`
	const app = `{"id":"019c96a1-0000-7000-8000-00000000000b","clientId":"cid-1","clientSecret":"%s","name":"n","description":"","createdAt":""}`
	longSecret := strings.Repeat("s", 40)
	tests := []struct {
		name, body string
		fault      error
		says       string
	}{
		{"empty object", `{}`, api.ErrInvalidField, "lists no users"},
		{"not JSON", `users: []`, api.ErrBadRequest, "malformed"},
		{"unknown top-level field", `{"users":[],"roles":[]}`, api.ErrUnknownField, "roles"},
		{"unknown user field", `{"users":[{"id":"x","username":"a","email":"a@b.c","isAdmin":true}]}`, api.ErrUnknownField, "isAdmin"},
		{"list of the wrong type", `{"users":"ana"}`, api.ErrInvalidField, "must be an array"},
		{"partial page", `{"users":{"items":[` + user + `],"page":1,"limit":1,"total":7}}`, api.ErrInvalidField, "every page"},
		{"unknown page field", `{"users":{"items":[],"next":2}}`, api.ErrUnknownField, "next"},
		{"user without email", `{"users":[{"id":"019c96a1-0000-7000-8000-00000000000a","username":"ana"}]}`, api.ErrMissingRequired, "email"},
		{"user id not a UUID", `{"users":[` + strings.Replace(user, "019c96a1-0000-7000-8000-00000000000a", "42", 1) + `]}`, api.ErrInvalidField, "UUID"},
		{"bad username", `{"users":[` + strings.Replace(user, `"ana"`, `"an a"`, 1) + `]}`, api.ErrInvalidField, "username"},
		{"duplicate user", `{"users":[` + user + `,` + user + `]}`, api.ErrInvalidField, "appears twice"},
		{"shared address", `{"users":[` + user + `,` + strings.NewReplacer("0000000a", "0000000c", `"ana"`, `"bob"`, "ana@", "ANA@").Replace(user) + `]}`, api.ErrInvalidField, "also the address or username of users[0]"},
		{"username is another's address", `{"users":[` + user + `,` + strings.NewReplacer("0000000a", "0000000c", `"ana"`, `"ana@example.com"`, "ana@", "bob@").Replace(user) + `]}`, api.ErrInvalidField, "also the address of users[0]"},
		{"md5 hash", `{"users":[` + strings.Replace(user, `"groups"`, `"passwordHash":"5f4dcc3b5aa765d61d8327deb882cf99","groups"`, 1) + `]}`, api.ErrInvalidField, "bcrypt"},
		{"bcrypt cost too high", `{"users":[` + strings.Replace(user, `"groups"`, `"passwordHash":"$2a$15$OBk7xJZbsTtfNXDYCQbGq.cJEzOfD/Zft6hn9JBCqozCXpzRxPbRm","groups"`, 1) + `]}`, api.ErrInvalidField, "cost 15"},
		{"short secret", `{"applications":[` + strings.Replace(app, "%s", "guessable", 1) + `]}`, api.ErrInvalidField, "32 to 256"},
		{"secret with spaces", `{"applications":[` + strings.Replace(app, "%s", strings.Repeat("a b", 12), 1) + `]}`, api.ErrInvalidField, "printable"},
		{"secret not a string", `{"applications":[` + strings.Replace(app, `"%s"`, "12345", 1) + `]}`, api.ErrBadRequest, "clientSecret must be a string"},
		{"clientId with a slash", `{"applications":[` + strings.Replace(strings.Replace(app, "%s", longSecret, 1), "cid-1", "a/b", 1) + `]}`, api.ErrInvalidField, "clientId"},
		{"unknown group", `{"users":[` + strings.Replace(user, `"groups":[]`, `"groups":["plugin-x-group"]`, 1) + `]}`, api.ErrNotFound, "create it first"},
		{"unknown group listed", `{"groups":[{"id":"auditors","name":"Auditors","createdAt":"","users":[]}]}`, api.ErrNotFound, "import does not create groups"},
		{"group lists a stranger", `{"groups":[{"id":"midaz-viewer-group","name":"V","createdAt":"","users":["ghost"]}]}`, api.ErrNotFound, "neither in the file's users nor in accessd"},
		{"bad createdAt", `{"applications":[` + strings.Replace(strings.Replace(app, "%s", longSecret, 1), `"createdAt":""`, `"createdAt":"yesterday"`, 1) + `]}`, api.ErrInvalidField, "RFC 3339"},
	}
	e := newEnv(t, directory.Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Service.Importer().Import(context.Background(), admin, []byte(tc.body), false)
			require.ErrorIs(t, err, tc.fault)
			require.Contains(t, err.Error(), tc.says)
			require.NotContains(t, err.Error(), longSecret)
		})
	}
	n, err := e.Store.Users().Count()
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the bootstrap admin: no refused file wrote anything")
}

// TestImportConflictsWithExisting: records that exist with other content
// are reported as conflicts, each naming what differs.
func TestImportConflictsWithExisting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	// An accessd user with the export's username but its own ID, and the
	// bootstrap admin outside a group the file says it is in.
	e.User(t, "johndoe")
	file := strings.Replace(string(readExport(t)), `"users": ["janedoe"]`, `"users": ["janedoe", "admin"]`, 1)
	dry, err := e.Service.Importer().Import(ctx, admin, []byte(file), true)
	require.NoError(t, err)
	byName := map[string]api.ImportRecord{}
	for _, r := range dry.Records {
		byName[r.Kind+" "+r.Name] = r
	}
	require.Equal(t, "conflict", byName["user johndoe"].Action)
	require.Contains(t, byName["user johndoe"].Detail, "another id, email, firstName, lastName, groups")
	require.Equal(t, "conflict", byName["membership midaz-editor-group/admin"].Action)
	require.Contains(t, byName["membership midaz-editor-group/admin"].Detail, "accessctl group add-member midaz-editor-group user:admin")
	require.Equal(t, "create", byName["user janedoe"].Action)
	// An address already held in accessd: sign-in by address would name
	// two accounts, so the user is a conflict, not a create.
	_, err = e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "other", Email: janeEmail(t, file), Password: "a long enough password 1"})
	require.NoError(t, err)
	dry, err = e.Service.Importer().Import(ctx, admin, []byte(file), true)
	require.NoError(t, err)
	byName = map[string]api.ImportRecord{}
	for _, r := range dry.Records {
		byName[r.Kind+" "+r.Name] = r
	}
	require.Equal(t, "conflict", byName["user janedoe"].Action)
	require.Contains(t, byName["user janedoe"].Detail, `is the address of user "other"`)
	_, err = e.Service.Importer().Import(ctx, admin, []byte(file), false)
	require.ErrorIs(t, err, api.ErrConflict)
	_, err = e.Service.Users().GetUser("janedoe")
	require.ErrorIs(t, err, api.ErrNotFound)
}

// TestImportedSecretFormat: what VerifyClientSecret accepts as an
// imported secret, and that a well-formed secret of either kind matches
// only its own hash.
func TestImportedSecretFormat(t *testing.T) {
	t.Parallel()
	p := newEnv(t, directory.Config{}).Store // the store's pepper
	for _, tc := range []struct {
		name, secret string
		ok           bool
	}{
		{"Lerian UUID", exportSecret, true},
		{"Casdoor hex", strings.Repeat("0f", 20), true},
		{"accessd's own", "acs_" + strings.Repeat("A", 43), true},
		{"31 characters", strings.Repeat("x", 31), false},
		{"257 characters", strings.Repeat("x", 257), false},
		{"a space", strings.Repeat("x", 20) + " " + strings.Repeat("x", 20), false},
		{"a newline", strings.Repeat("x", 40) + "\n", false},
		{"non-ASCII", strings.Repeat("x", 40) + "é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := credential.HashClientSecret(p, []byte(tc.secret))
			_, ok := credential.VerifyClientSecret(p, []byte(tc.secret), [][]byte{h})
			require.Equal(t, tc.ok, ok)
			_, ok = credential.VerifyClientSecret(p, []byte(tc.secret+"x"), [][]byte{h})
			require.False(t, ok)
		})
	}
}

// failingRand is the store's randomness until failing is set; then every
// read fails, so the next audit entry staged in a transaction fails it
// after its earlier writes.
type failingRand struct{ failing atomic.Bool }

func (r *failingRand) Read(p []byte) (int, error) {
	if r.failing.Load() {
		return 0, errors.New("entropy source gone")
	}
	return rand.Read(p)
}

// TestImportRollsBackOnFailure: an error inside the import's transaction,
// after the first user was written in it, leaves nothing behind.
func TestImportRollsBackOnFailure(t *testing.T) {
	t.Parallel()
	r := &failingRand{}
	e := directorytest.Open(t, directory.Config{}, credential.HasherOptions{Params: cheap}, store.Options{Rand: r})
	r.failing.Store(true)
	_, err := e.Service.Importer().Import(context.Background(), admin, readExport(t), false)
	require.ErrorContains(t, err, "entropy source gone")
	r.failing.Store(false)
	for _, id := range []string{exportJohnID, exportJaneID} {
		_, err := e.Store.Users().Get(id)
		require.ErrorIs(t, err, store.ErrNotFound, "user %s outlived the failed import", id)
		_, err = e.Store.Credentials().Get(id)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	_, err = e.Store.Applications().Get(exportAppID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = e.Service.Importer().Import(context.Background(), admin, readExport(t), false)
	require.NoError(t, err, "and the same file imports once the fault is gone")
}

// TestImportRoute: POST /v1/import exists on the admin socket only,
// answers the plan as JSON, and a body over the daemon's limit is 413.
func TestImportRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	adminPlane := servePlane(t, e, true)
	code, body := call(t, adminPlane, "", "POST", "/v1/import?dryRun=true", string(readExport(t)))
	require.Equal(t, 200, code, body)
	var r api.ImportResult
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	require.True(t, r.DryRun)
	require.Len(t, r.Records, 5)
	require.NotContains(t, body, exportSecret)
	_, err := e.Service.Users().GetUser("johndoe")
	require.ErrorIs(t, err, api.ErrNotFound)

	code, body = call(t, adminPlane, "", "POST", "/v1/import", `{"users":[`+strings.Repeat(" ", 2<<20)+`]}`)
	require.Equal(t, 413, code, body)
	require.Contains(t, body, "split it")

	dataPlane := servePlane(t, e, false)
	boss := e.User(t, "boss", "admin-group")
	code, body = call(t, dataPlane, boss.ID, "POST", "/v1/import", string(readExport(t)))
	require.Equal(t, 404, code, "even an admin-group bearer has no import on the data plane: %s", body)
	_, err = e.Service.Users().GetUser("johndoe")
	require.ErrorIs(t, err, api.ErrNotFound)
}

// TestHasherVerifiesBcrypt: the three bcrypt variants an import may
// carry verify (Go's bcrypt and htpasswd -B differ only in the prefix);
// a wrong password, or one that matches only in bcrypt's first 72
// bytes, does not; and every bcrypt hash asks to be re-made.
func TestHasherVerifiesBcrypt(t *testing.T) {
	t.Parallel()
	h, err := credential.NewHasher(credential.HasherOptions{Params: cheap})
	require.NoError(t, err)
	ctx := context.Background()
	const stored = exportJohnHash
	long72, err := bcryptOf(t, strings.Repeat("k", 72))
	require.NoError(t, err)
	// The export's own hash (cost 10) is checked once; the variants and
	// the wrong password are checked against the same password at bcrypt's
	// least cost, which is what they are about and a hundredth of the work.
	cheapJohn, err := bcryptOf(t, exportJohnPass)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, hash, password string
		want                 error
	}{
		{"$2a$ from the export", stored, exportJohnPass, nil},
		{"$2a$", cheapJohn, exportJohnPass, nil},
		{"$2b$", "$2b$" + cheapJohn[4:], exportJohnPass, nil},
		{"$2y$", "$2y$" + cheapJohn[4:], exportJohnPass, nil},
		{"wrong password", cheapJohn, exportJohnPass + "!", credential.ErrPasswordMismatch},
		{"72 bytes", long72, strings.Repeat("k", 72), nil},
		{"73 bytes matching in the first 72", long72, strings.Repeat("k", 73), credential.ErrPasswordMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.Verify(ctx, tc.hash, []byte(tc.password))
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			require.True(t, h.NeedsRehash(tc.hash))
		})
	}
	require.Error(t, h.Verify(ctx, "$2x$"+stored[4:], []byte(exportJohnPass)), "not a variant accessd takes")
	require.Error(t, h.Verify(ctx, "$2a$31$"+stored[7:], []byte(exportJohnPass)), "a cost that would take hours is refused unrun")
}

func bcryptOf(t *testing.T, pw string) (string, error) {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	return string(b), err
}

// TestImportManyOneTimePasswords: the one-time passwords, hashed in
// parallel, each belong to their own user. Eight users are hashed
// several at a time as twenty were (the hasher runs max(2, NumCPU) at
// once), and a mix-up of two users' passwords shows among any of them;
// twenty cost forty argon2id runs with the sign-ins.
func TestImportManyOneTimePasswords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	const n = 8
	var users []string
	for i := range n {
		users = append(users, fmt.Sprintf(`{"id":"019c96a2-0000-7000-8000-%012d","username":"user%02d","email":"user%02d@example.com","firstName":"U","lastName":"N","groups":[]}`, i, i, i))
	}
	res, err := e.Service.Importer().Import(ctx, admin, []byte(`{"users":[`+strings.Join(users, ",")+`]}`), false)
	require.NoError(t, err)
	require.Len(t, res.Passwords, n)
	seen := map[string]bool{}
	for i, p := range res.Passwords {
		require.Equal(t, fmt.Sprintf("user%02d", i), p.Username, "in the file's order")
		require.False(t, seen[p.Password])
		seen[p.Password] = true
		_, err := e.SignIn.SignIn(ctx, admin, p.Username, []byte(p.Password))
		require.ErrorIs(t, err, api.ErrMustChange, "%s's one-time password is its own", p.Username)
	}
	_, err = e.SignIn.SignIn(ctx, admin, "user01", []byte(res.Passwords[0].Password))
	require.ErrorIs(t, err, api.ErrBadLogin, "and no one else's")
}

// janeEmail is the address the export gives janedoe.
func janeEmail(t *testing.T, file string) string {
	t.Helper()
	var e struct {
		Users []struct{ Username, Email string } `json:"users"`
	}
	require.NoError(t, json.Unmarshal([]byte(file), &e))
	for _, u := range e.Users {
		if u.Username == "janedoe" {
			return u.Email
		}
	}
	require.FailNow(t, "no janedoe in the export")
	return ""
}

// TestImportIDAcrossKinds: users and applications share one subject
// space (an ID names the principal whose grants a decision uses), so an
// imported application may not take an existing user's ID, nor a user
// an application's: either would merge the two principals' grants.
func TestImportIDAcrossKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	u := e.User(t, "uma")
	app, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "ledger"})
	require.NoError(t, err)
	for name, file := range map[string]string{
		"application with a user's id":  `{"applications":[{"id":"` + u.ID + `","clientId":"cid-uma","clientSecret":"0123456789abcdef0123456789abcdef0123","name":"n","description":"","createdAt":"","groups":["admin-group"]}]}`,
		"user with an application's id": `{"users":[{"id":"` + app.ID + `","username":"ana","email":"ana@example.com","firstName":"A","lastName":"N","groups":["admin-group"]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dry, err := e.Service.Importer().Import(ctx, admin, []byte(file), true)
			require.NoError(t, err)
			require.Len(t, dry.Records, 1)
			require.Equal(t, "conflict", dry.Records[0].Action)
			require.Contains(t, dry.Records[0].Detail, "share one subject space")
			_, err = e.Service.Importer().Import(ctx, admin, []byte(file), false)
			require.ErrorIs(t, err, api.ErrConflict)
			require.NoError(t, e.Service.LoadIndex())
			require.False(t, e.Index.Allowed(u.ID, "", "users", "delete"), "the user gained no grant")
			require.False(t, e.Index.Allowed(app.ID, "", "users", "delete"), "the application gained no grant")
		})
	}
}

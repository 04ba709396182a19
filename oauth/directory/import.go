package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Moving in from Lerian's Access Manager.
//
// An import file bundles three answers an administrator reads from
// Lerian's Identity API, unchanged: GET /v1/users, GET /v1/groups and
// GET /v1/applications (Lerian lets an admin read an application's
// clientSecret back):
//
//	{"users": [...], "groups": [...], "applications": [...]}
//
// Each list may be the bare JSON array Lerian's Identity API 2.4.2
// answers, or the paginated object later versions answer
// ({"items": [...], "page": 1, "limit": 10, "total": 2}). Decoding is
// strict: a field Lerian's shapes do not have is refused, except two
// that accessd adds and documents: a user's passwordHash (a bcrypt hash,
// kept and re-made as argon2id at the first sign-in) and an
// application's groups (Lerian's application list carries none).
//
// Everything commits in one store transaction or nothing does. A record
// that already exists with the same content is "unchanged", so a second
// import of the same file changes nothing; one that exists with other
// content is a "conflict", and an import with any conflict writes
// nothing: it never overwrites what an admin changed in accessd since.
// Groups are never created: Lerian's groups are predefined, so each one
// named must already exist in accessd under the same name (the default
// groups do).

// LerianExport is a parsed import file.
type LerianExport struct {
	Users        []LerianUser
	Groups       []LerianGroup
	Applications []LerianApplication
}

// LerianUser is one entry of Lerian's GET /v1/users, plus an optional
// passwordHash.
type LerianUser struct {
	ID        string   `json:"id"`
	Username  string   `json:"username"`
	FirstName string   `json:"firstName"`
	LastName  string   `json:"lastName"`
	Email     string   `json:"email"`
	Groups    []string `json:"groups"`
	// PasswordHash, when set, is a bcrypt hash ($2a$, $2b$, $2y$) the user
	// keeps; without it the user gets a one-time password.
	PasswordHash string `json:"passwordHash,omitempty"`
}

// LerianGroup is one entry of Lerian's GET /v1/groups: ID is the group's
// name ("midaz-viewer-group"), Name its display name, Users usernames.
type LerianGroup struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	CreatedAt string   `json:"createdAt"`
	Users     []string `json:"users"`
}

// LerianApplication is one entry of Lerian's GET /v1/applications, plus
// optional groups.
type LerianApplication struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Description  string         `json:"description"`
	ClientID     string         `json:"clientId"`
	ClientSecret importedSecret `json:"clientSecret"`
	CreatedAt    string         `json:"createdAt"`
	Groups       []string       `json:"groups,omitempty"`
}

// importedSecret is a client secret read from an import file. Like
// ClientSecret it has no printable form and cannot be encoded again, so
// a parsed export cannot leak it into a log line or an answer; it is
// hashed and cleared.
type importedSecret struct{ b []byte }

func (s *importedSecret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("clientSecret must be a string")
	}
	s.b = []byte(v)
	return nil
}

func (importedSecret) String() string                    { return "[redacted]" }
func (importedSecret) GoString() string                  { return "[redacted]" }
func (importedSecret) Format(f fmt.State, _ rune)        { _, _ = io.WriteString(f, "[redacted]") }
func (importedSecret) LogValue() slog.Value              { return slog.StringValue("[redacted]") }
func (importedSecret) MarshalJSON() ([]byte, error)      { return nil, credential.ErrNoSerialisation }
func (importedSecret) MarshalText() ([]byte, error)      { return nil, credential.ErrNoSerialisation }
func (s *importedSecret) clear()                         { clear(s.b); s.b = nil }
func (s importedSecret) hash(p credential.Pepper) []byte { return credential.HashClientSecret(p, s.b) }
func (s importedSecret) matches(p credential.Pepper, h [][]byte) bool {
	_, ok := credential.VerifyClientSecret(p, s.b, h)
	return ok
}

// lerianIDRE is the form of the record IDs Lerian answers (UUIDs, in
// lower case), which accessd keeps as its own.
var lerianIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// clientIDRE bounds an imported clientId: it names the application in
// subjects ("<owner>/<clientId>") and tokens, so it stays a plain token.
var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ParseLerianExport decodes and checks an import file (see the package's
// "Moving in from Lerian"). Usernames come back canonical, group lists
// sorted without duplicates. It checks everything that needs no store:
// shapes, formats, and that no user, group or application appears twice.
// Errors name the record by its position and name, never a secret.
func ParseLerianExport(data []byte) (LerianExport, error) {
	var raw struct {
		Users        json.RawMessage `json:"users"`
		Groups       json.RawMessage `json:"groups"`
		Applications json.RawMessage `json:"applications"`
	}
	var out LerianExport
	if err := api.DecodeJSON(bytes.NewReader(data), &raw); err != nil {
		return out, fmt.Errorf("identity: import file: %w", err)
	}
	var err error
	if out.Users, err = lerianList[LerianUser]("users", raw.Users); err != nil {
		return out, err
	}
	if out.Groups, err = lerianList[LerianGroup]("groups", raw.Groups); err != nil {
		return out, err
	}
	if out.Applications, err = lerianList[LerianApplication]("applications", raw.Applications); err != nil {
		return out, err
	}
	if len(out.Users)+len(out.Groups)+len(out.Applications) == 0 {
		return out, invalid("the import file lists no users, groups or applications; it must hold Lerian's lists as {\"users\":[…],\"groups\":[…],\"applications\":[…]}")
	}
	if err := out.check(); err != nil {
		out.clear()
		return LerianExport{}, err
	}
	return out, nil
}

// lerianList decodes one list: a bare array, or Lerian's paginated object.
func lerianList[T any](name string, raw json.RawMessage) ([]T, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []T
	var err error
	switch raw[0] {
	case '[':
		err = api.DecodeJSON(bytes.NewReader(raw), &items)
	case '{':
		var page struct {
			Items []T `json:"items"`
			Page  int `json:"page"`
			Limit int `json:"limit"`
			Total int `json:"total"`
		}
		if err = api.DecodeJSON(bytes.NewReader(raw), &page); err == nil && page.Total > len(page.Items) {
			err = invalid("%s: the list holds %d of %d entries; read every page from Lerian (limit=%d, page=1, 2, …) and join them into one array", name, len(page.Items), page.Total, len(page.Items))
		}
		items = page.Items
	default:
		err = invalid("%s must be an array, or Lerian's paginated object with items", name)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: import file: %s: %w", name, err)
	}
	return items, nil
}

// clear drops the secrets the export holds.
func (e *LerianExport) clear() {
	for i := range e.Applications {
		e.Applications[i].ClientSecret.clear()
	}
}

// check validates and normalises an export in place.
func (e *LerianExport) check() error {
	ids := map[string]string{}
	claim := func(key, what string) error {
		if prev, ok := ids[key]; ok {
			return invalid("%s appears twice in the file (also as %s)", what, prev)
		}
		ids[key] = what
		return nil
	}
	usernames := map[string]bool{}
	signIn := map[string]int{} // folded address or username -> index in e.Users
	for i := range e.Users {
		u := &e.Users[i]
		at := fmt.Sprintf("users[%d]", i)
		if u.ID == "" || u.Username == "" || u.Email == "" {
			return fmt.Errorf("%s: %w", at, missing("id", "username", "email"))
		}
		name, err := credential.CanonicalUsername(u.Username)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		u.Username = name
		at = fmt.Sprintf("users[%d] (%s)", i, name)
		if !lerianIDRE.MatchString(u.ID) {
			return fmt.Errorf("%s: %w", at, invalid("id must be a lower-case UUID, as Lerian answers it"))
		}
		if err := errors.Join(credential.CheckEmail(u.Email), checkName("firstName", u.FirstName), checkName("lastName", u.LastName)); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if u.PasswordHash != "" {
			if err := credential.CheckBcryptHash(u.PasswordHash); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		}
		if u.Groups, err = checkGroupList(u.Groups); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if err := errors.Join(claim("id/"+u.ID, at), claim("user/"+name, at)); err != nil {
			return err
		}
		// Sign-in takes a username or an address, so within the file no
		// address may be another user's address or username.
		folded := store.FoldEmail(u.Email)
		if prev, ok := signIn[folded]; ok && prev != i {
			return fmt.Errorf("%s: %w", at, invalid("email %q is also the address or username of users[%d]; sign-in takes either, so each must name one account", u.Email, prev))
		}
		if prev, ok := signIn[name]; ok && prev != i {
			return fmt.Errorf("%s: %w", at, invalid("username %q is also the address of users[%d]; sign-in takes either, so each must name one account", name, prev))
		}
		signIn[folded], signIn[name] = i, i
		usernames[name] = true
	}
	for i := range e.Groups {
		g := &e.Groups[i]
		at := fmt.Sprintf("groups[%d]", i)
		if err := CheckGroupName(g.ID); err != nil {
			return fmt.Errorf("%s: id: %w", at, err)
		}
		at = fmt.Sprintf("groups[%d] (%s)", i, g.ID)
		if err := errors.Join(checkName("name", g.Name), checkTime("createdAt", g.CreatedAt)); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		for j, n := range g.Users {
			c, err := credential.CanonicalUsername(n)
			if err != nil {
				return fmt.Errorf("%s: users[%d]: %w", at, j, err)
			}
			g.Users[j] = c
		}
		g.Users = dedupe(g.Users)
		if err := claim("group/"+g.ID, at); err != nil {
			return err
		}
	}
	for i := range e.Applications {
		ap := &e.Applications[i]
		at := fmt.Sprintf("applications[%d]", i)
		if ap.ID == "" || ap.Name == "" || ap.ClientID == "" || len(ap.ClientSecret.b) == 0 {
			return fmt.Errorf("%s: %w", at, missing("id", "name", "clientId", "clientSecret"))
		}
		if !clientIDRE.MatchString(ap.ClientID) {
			return fmt.Errorf("%s: %w", at, invalid("clientId must be 1-128 letters, digits, '.', '_' or '-'"))
		}
		at = fmt.Sprintf("applications[%d] (%s)", i, ap.ClientID)
		if !lerianIDRE.MatchString(ap.ID) {
			return fmt.Errorf("%s: %w", at, invalid("id must be a lower-case UUID, as Lerian answers it"))
		}
		if !credential.WellFormedSecret(ap.ClientSecret.b) {
			return fmt.Errorf("%s: %w", at, invalid("clientSecret must be %d to %d printable characters without spaces: shorter secrets are too easy to guess to keep; rotate it in Lerian first, or create the application anew with accessctl app create",
				credential.MinImportedSecret, credential.MaxImportedSecret))
		}
		if err := errors.Join(checkName("name", ap.Name), checkName("description", ap.Description), checkTime("createdAt", ap.CreatedAt)); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		var err error
		if ap.Groups, err = checkGroupList(ap.Groups); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if err := errors.Join(claim("id/"+ap.ID, at), claim("client/"+ap.ClientID, at), claim("app/"+ap.Name, at)); err != nil {
			return err
		}
	}
	return nil
}

func checkGroupList(gs []string) ([]string, error) {
	for _, g := range gs {
		if err := CheckGroupName(g); err != nil {
			return nil, fmt.Errorf("groups: %w", err)
		}
	}
	return dedupe(gs), nil
}

// checkTime accepts an empty time or an RFC 3339 one.
func checkTime(what, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return invalid("%s must be an RFC 3339 time like 2025-04-08T08:01:30.000Z", what)
	}
	return nil
}

func parseTimeOr(v string, def time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC()
	}
	return def
}

// Import actions, as reported per record.
const (
	ImportCreate    = "create"
	ImportUnchanged = "unchanged"
	ImportConflict  = "conflict"
)

// importPlan is what an import does, record by record.
type importPlan struct {
	records []api.ImportRecord
	// groupsOf is every imported user's groups: its own list joined with
	// the groups that list it.
	groupsOf  map[string][]string
	conflicts int
}

func (p *importPlan) add(kind, name, id, action, detail string) {
	p.records = append(p.records, api.ImportRecord{Kind: kind, Name: name, ID: id, Action: action, Detail: detail})
	if action == ImportConflict {
		p.conflicts++
	}
}

// existing records a record accessd holds already: unchanged, or a
// conflict when diff says what differs.
func (p *importPlan) existing(kind, name, id, diff string) {
	if diff != "" {
		p.add(kind, name, id, ImportConflict, diff)
	} else {
		p.add(kind, name, id, ImportUnchanged, "")
	}
}

// creates reports whether the plan creates the record of kind and id.
func (p *importPlan) creates(kind, id string) bool {
	return slices.ContainsFunc(p.records, func(r api.ImportRecord) bool {
		return r.Kind == kind && r.ID == id && r.Action == ImportCreate
	})
}

// plan compares the export with the store as tx sees it.
func (s *Importer) importPlan(tx *store.Tx, e LerianExport) (*importPlan, error) {
	p := &importPlan{groupsOf: map[string][]string{}}
	inFile := map[string]bool{}
	for _, u := range e.Users {
		p.groupsOf[u.Username] = u.Groups
		inFile[u.Username] = true
	}
	// A user named like an application, or like a record ID, is refused
	// as a conflict, never renamed: the dry run lists each one.
	names, err := appNamesIn(tx)
	if err != nil {
		return nil, err
	}
	for _, ap := range e.Applications {
		names.add(ap.ID, ap.ClientID, ap.Name)
	}
	for _, g := range e.Groups {
		_, err := tx.Groups().Get(g.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("identity: import: group %q: %w: accessd has no such group, and import does not create groups (Lerian's are predefined); create it first with `accessctl group create %s` or `accessctl apply`, or drop it from the file", g.ID, api.ErrNotFound, g.ID)
		}
		if err != nil {
			return nil, err
		}
		for _, name := range g.Users {
			if inFile[name] {
				p.groupsOf[name] = dedupe(append(p.groupsOf[name], g.ID))
				continue
			}
			// A member the file's user list leaves out must already be
			// in accessd, and in the group: import adds no memberships
			// to records it does not create.
			u, err := tx.Users().GetByUsername(name)
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("identity: import: group %q lists user %q, who is neither in the file's users nor in accessd: %w; add the user to the users list or drop the name", g.ID, name, api.ErrNotFound)
			}
			if err != nil {
				return nil, err
			}
			if !slices.Contains(u.Groups, g.ID) {
				p.add("membership", g.ID+"/"+name, u.ID, ImportConflict,
					fmt.Sprintf("user %q exists in accessd outside group %q; add it with `accessctl group add-member %s user:%s`, or drop the name from the group", name, g.ID, g.ID, name))
			}
		}
		p.add("group", g.ID, g.ID, ImportUnchanged, "exists in accessd")
	}
	for _, u := range e.Users {
		groups := p.groupsOf[u.Username]
		if err := checkGroupsExist(tx, groups); err != nil {
			return nil, fmt.Errorf("identity: import: user %q: %w", u.Username, err)
		}
		cur, err := tx.Users().Get(u.ID)
		if errors.Is(err, store.ErrNotFound) {
			cur, err = tx.Users().GetByUsername(u.Username)
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			how := "one-time password, to be changed at first sign-in"
			if u.PasswordHash != "" {
				how = "keeps its bcrypt password hash, re-made as argon2id at first sign-in"
			}
			if _, err := tx.Applications().Get(u.ID); err == nil {
				p.add("user", u.Username, u.ID, ImportConflict, "its id is an application's id in accessd; users and applications share one subject space, so give it another id")
				continue
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if clash := signInClash(tx, u); clash != "" {
				p.add("user", u.Username, u.ID, ImportConflict, clash)
				continue
			}
			if why := names.LookAlike(u.Username); why != "" {
				p.add("user", u.Username, u.ID, ImportConflict, "its username could be taken for an application or another record ("+why+
					"); give it another username in Lerian, or drop it from the file")
				continue
			}
			p.add("user", u.Username, u.ID, ImportCreate, how)
		case err != nil:
			return nil, err
		default:
			want := store.User{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Groups: groups}
			p.existing("user", u.Username, cur.ID, userDiff(cur, want))
		}
	}
	for _, ap := range e.Applications {
		if err := checkGroupsExist(tx, ap.Groups); err != nil {
			return nil, fmt.Errorf("identity: import: application %q: %w", ap.ClientID, err)
		}
		cur, err := tx.Applications().Get(ap.ID)
		if errors.Is(err, store.ErrNotFound) {
			cur, err = tx.Applications().GetByClientID(ap.ClientID)
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			if _, err := tx.Users().Get(ap.ID); err == nil {
				p.add("application", ap.ClientID, ap.ID, ImportConflict, "its id is a user's id in accessd; users and applications share one subject space, so give it another id")
				continue
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if clash, err := appUserClash(tx, ap, inFile); err != nil {
				return nil, err
			} else if clash != "" {
				p.add("application", ap.ClientID, ap.ID, ImportConflict, clash)
				continue
			}
			p.add("application", ap.ClientID, ap.ID, ImportCreate, "keeps its clientId and secret (stored as a keyed hash)")
		case err != nil:
			return nil, err
		default:
			p.existing("application", ap.ClientID, cur.ID, s.appDiff(cur, ap))
		}
	}
	return p, nil
}

// appUserClash says why an imported application could be taken for a
// user, one in accessd or in the file (inFile, by canonical username):
// its name or client ID is that user's username. "" when it could not.
func appUserClash(tx *store.Tx, ap LerianApplication, inFile map[string]bool) (string, error) {
	for _, f := range []struct{ what, v string }{{"name", ap.Name}, {"clientId", ap.ClientID}} {
		_, taken, err := usernameOf(tx, f.v)
		if err != nil {
			return "", err
		}
		if c, cerr := credential.CanonicalUsername(f.v); taken || cerr == nil && inFile[c] {
			return fmt.Sprintf("its %s is a user's username (%q): an application named like a user could be taken for it; rename one of them", f.what, c), nil
		}
	}
	return "", nil
}

// userDiff names the fields in which an existing user differs from the
// imported one, or returns "".
func userDiff(cur, want store.User) string {
	var d []string
	for _, f := range []struct{ name, a, b string }{
		{"id", cur.ID, want.ID}, {"username", cur.Username, want.Username}, {"email", cur.Email, want.Email},
		{"firstName", cur.FirstName, want.FirstName}, {"lastName", cur.LastName, want.LastName},
	} {
		if f.a != f.b {
			d = append(d, f.name)
		}
	}
	if !slices.Equal(dedupe(cur.Groups), want.Groups) {
		d = append(d, "groups")
	}
	if len(d) == 0 {
		return ""
	}
	return "exists in accessd with another " + strings.Join(d, ", ") + "; change it in accessd or in the file so they agree"
}

// appDiff names what differs between an existing application and the
// imported one; its secret counts as the same when it matches a live
// stored hash.
func (s *Importer) appDiff(cur store.Application, ap LerianApplication) string {
	var d []string
	for _, f := range []struct{ name, a, b string }{
		{"id", cur.ID, ap.ID}, {"clientId", cur.ClientID, ap.ClientID}, {"name", cur.Name, ap.Name}, {"description", cur.Description, ap.Description},
	} {
		if f.a != f.b {
			d = append(d, f.name)
		}
	}
	if !slices.Equal(dedupe(cur.Groups), ap.Groups) {
		d = append(d, "groups")
	}
	var hashes [][]byte
	for _, h := range LiveSecrets(cur.SecretHashes, s.c.now()) {
		hashes = append(hashes, h.Hash)
	}
	if !ap.ClientSecret.matches(s.c.st, hashes) {
		d = append(d, "clientSecret (rotated in accessd since?)")
	}
	if len(d) == 0 {
		return ""
	}
	return "exists in accessd with another " + strings.Join(d, ", ") + "; change it in accessd or in the file so they agree"
}

// Import moves users, groups' memberships and applications in from a
// Lerian export (see "Moving in from Lerian" above). With dry it only
// reports the plan. Users created without a bcrypt hash get a one-time
// password each, returned once in the result; applications keep their
// clientId, and their secret is stored as a keyed hash like any other.
// An import with a conflict fails with api.ErrConflict and writes
// nothing; the dry run lists the conflicts.
func (s *Importer) Import(ctx context.Context, a change.Actor, data []byte, dry bool) (api.ImportResult, error) {
	e, err := ParseLerianExport(data)
	if err != nil {
		return api.ImportResult{}, err
	}
	defer e.clear()
	out := api.ImportResult{DryRun: dry, Records: []api.ImportRecord{}}

	// Plan outside the write transaction, to hash the one-time passwords
	// (slow work) before it; the transaction plans again and refuses if
	// the store changed in a way the hashing did not foresee.
	var first *importPlan
	if err := s.c.st.View(func(tx *store.Tx) error {
		first, err = s.importPlan(tx, e)
		return err
	}); err != nil {
		return out, storeErr("import", err)
	}
	if dry {
		out.Records = first.records
		return out, nil
	}
	if first.conflicts > 0 {
		return out, importConflict(first)
	}
	now := s.c.now().UTC()
	oneTime := map[string][]byte{} // username -> generated password
	hashes := map[string]string{}  // username -> argon2id hash
	defer func() {
		for _, pw := range oneTime {
			clear(pw)
		}
	}()
	for _, u := range e.Users {
		if u.PasswordHash != "" || !first.creates("user", u.ID) {
			continue
		}
		pw, err := credential.GeneratePassword(s.c.rand)
		if err != nil {
			return out, err
		}
		oneTime[u.Username] = pw
	}
	if err := s.hashAll(ctx, oneTime, hashes); err != nil {
		return out, err
	}

	var plan *importPlan
	err = s.c.st.Update(func(tx *store.Tx) error {
		var err error
		if plan, err = s.importPlan(tx, e); err != nil {
			return err
		}
		if plan.conflicts > 0 {
			return importConflict(plan)
		}
		if !slices.ContainsFunc(plan.records, func(r api.ImportRecord) bool { return r.Action == ImportCreate }) {
			return nil // a second import of the same file: nothing to write, nothing to audit
		}
		created := map[string]int{}
		for _, u := range e.Users {
			if !plan.creates("user", u.ID) {
				continue
			}
			cred := store.Credential{ID: u.ID, PasswordHash: u.PasswordHash, PasswordChangedAt: now}
			how := "bcrypt-kept"
			if u.PasswordHash == "" {
				h, ok := hashes[u.Username]
				if !ok {
					return fmt.Errorf("identity: import: user %q was created meanwhile elsewhere: %w; run the import again", u.Username, api.ErrConflict)
				}
				cred.PasswordHash, cred.MustChangePassword, how = h, true, "one-time"
			}
			groups := plan.groupsOf[u.Username]
			if _, err := tx.Users().Create(store.User{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName,
				LastName: u.LastName, Groups: groups, CreatedAt: now}); err != nil {
				return err
			}
			if _, err := tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) { return cred, nil }); err != nil {
				return err
			}
			if err := tx.Audit().Stage(s.c.entry(a, "user.import", "user:"+u.ID, "ok",
				map[string]string{"username": u.Username, "groups": strings.Join(groups, ","), "password": how})); err != nil {
				return err
			}
			created["users"]++
		}
		for _, ap := range e.Applications {
			if !plan.creates("application", ap.ID) {
				continue
			}
			createdAt := parseTimeOr(ap.CreatedAt, now)
			rec := store.Application{ID: ap.ID, Name: ap.Name, Description: ap.Description, ClientID: ap.ClientID, Groups: ap.Groups,
				SecretHashes: []store.SecretHash{{Hash: ap.ClientSecret.hash(s.c.st), CreatedAt: createdAt}}, CreatedAt: createdAt}
			if _, err := tx.Applications().Create(rec); err != nil {
				return err
			}
			if err := tx.Audit().Stage(s.c.entry(a, "app.import", "app:"+ap.ClientID, "ok",
				map[string]string{"id": ap.ID, "groups": strings.Join(ap.Groups, ",")})); err != nil {
				return err
			}
			created["applications"]++
		}
		return tx.Audit().Stage(s.c.entry(a, "lerian.import", "import", "ok", map[string]string{
			"users": strconv.Itoa(created["users"]), "applications": strconv.Itoa(created["applications"]),
			"unchanged": strconv.Itoa(len(plan.records) - created["users"] - created["applications"])}))
	})
	if err != nil {
		return out, storeErr("import", err)
	}
	for _, r := range plan.records {
		if r.Action == ImportCreate {
			s.c.RefreshSubject(r.ID)
		}
	}
	out.Records = plan.records
	for _, u := range e.Users {
		if pw, ok := oneTime[u.Username]; ok && plan.creates("user", u.ID) {
			out.Passwords = append(out.Passwords, api.ImportedPassword{Username: u.Username, Password: string(pw)})
		}
	}
	return out, nil
}

// hashAll hashes every password of pws into hashes, as many at once as
// the Hasher has room for (it bounds the memory; the request has to end
// within the admin socket's write timeout).
func (s *Importer) hashAll(ctx context.Context, pws map[string][]byte, hashes map[string]string) error {
	type done struct {
		name, hash string
		err        error
	}
	names := make(chan string)
	results := make(chan done)
	workers := min(max(s.c.hasher.Slots(), 1), len(pws))
	for range workers {
		go func() {
			for name := range names {
				h, err := s.c.hasher.Hash(ctx, pws[name])
				results <- done{name, h, err}
			}
		}()
	}
	go func() {
		defer close(names)
		for name := range pws {
			names <- name
		}
	}()
	var first error
	for range pws {
		r := <-results
		if r.err != nil && first == nil {
			first = r.err
		}
		hashes[r.name] = r.hash
	}
	return first
}

// importConflict is the error of an import refused for conflicts: it
// names the first few and where to see them all.
func importConflict(p *importPlan) error {
	var lines []string
	for _, r := range p.records {
		if r.Action == ImportConflict && len(lines) < 5 {
			lines = append(lines, fmt.Sprintf("%s %s: %s", r.Kind, r.Name, r.Detail))
		}
	}
	return fmt.Errorf("identity: import: %w: %d record(s) exist in accessd with other content, nothing was imported (%s); `accessctl import --dry-run -f FILE` lists them all",
		api.ErrConflict, p.conflicts, strings.Join(lines, "; "))
}

// signInClash says why a user the import would create cannot sign in as
// the file names it: its address is another account's address or
// username, or its username another account's address. Empty when none.
func signInClash(tx *store.Tx, u LerianUser) string {
	folded := store.FoldEmail(u.Email)
	if o, err := tx.Users().GetByEmail(folded); err == nil {
		return fmt.Sprintf("email %q is the address of user %q in accessd; give one of them another address", u.Email, o.Username)
	}
	if o, err := tx.Users().GetByUsername(folded); err == nil {
		return fmt.Sprintf("email %q is the username of another account in accessd (%s); sign-in takes either, so give one of them another name", u.Email, o.ID)
	}
	if o, err := tx.Users().GetByEmail(u.Username); err == nil {
		return fmt.Sprintf("username %q is the address of user %q in accessd; sign-in takes either, so give one of them another name", u.Username, o.Username)
	}
	return ""
}

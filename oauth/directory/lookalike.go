package directory

import (
	"errors"
	"fmt"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Look-alike subjects.
//
// Routes and commands take a user as "an ID or a username", an
// application as "an ID or a client ID", and a group's member as
// user:X, app:X or a bare X that may be either. A user named after an
// application (its client ID, record ID or name), or after any record
// ID, could be taken for it: an identity editor plants one, and an
// admin who adds "the application" to a group by its client ID adds the
// planted user, whose password the editor knows. So:
//
//   - a new user's username may not have the form of a record ID or a
//     client ID (credential.CheckNewUsername), nor equal, case-folded,
//     any application's ID, client ID or name;
//   - a new application's name may not equal a username;
//   - a bare member that names a user and an application is refused,
//     naming both (user:X and app:X say which);
//   - stores from before keep such names, reachable as before; the
//     access review flags them (api.FlagLookAlike) for an admin to
//     rename or remove.
//
// The checks read every application inside the writing transaction.
// Badger does not see a record created meanwhile by another
// transaction as a conflict, so an application created at the same
// moment as a user of its name can slip past; the review still flags
// the pair.

// AppNames maps the canonical (CanonicalUsername) forms of applications'
// record IDs, client IDs and names to what each one is, to test
// usernames against.
type AppNames map[string]string

// AppNamesOf returns the names of apps.
func AppNamesOf(apps []store.Application) AppNames {
	n := AppNames{}
	for _, ap := range apps {
		n.add(ap.ID, ap.ClientID, ap.Name)
	}
	return n
}

// appNamesIn reads every application in tx.
func appNamesIn(tx *store.Tx) (AppNames, error) {
	apps, err := tx.Applications().List("", 0)
	return AppNamesOf(apps), err
}

// add records one application's names. What each is does not name the
// application: a caller scoped to one tenant learns no other tenant's
// client IDs from a refusal.
func (n AppNames) add(id, clientID, name string) {
	for _, f := range []struct{ v, what string }{
		{name, "an application's name"}, {id, "an application's record ID"}, {clientID, "an application's client ID"},
	} {
		if c, err := credential.CanonicalUsername(f.v); err == nil {
			n[c] = f.what
		}
	}
}

// LookAlike says why the canonical username c could be taken for an
// application or another record ("" when it could not).
func (n AppNames) LookAlike(c string) string {
	switch {
	case credential.IDShaped(c):
		return "it has the form of a record ID"
	case credential.ClientIDShaped(c):
		return "it has the form of a client ID"
	}
	if what, ok := n[c]; ok {
		return "it is " + what
	}
	return ""
}

// newUsername refuses a canonical username for a new user that could be
// taken for an application or a record.
func (n AppNames) newUsername(c string) error {
	if err := credential.CheckNewUsername(c); err != nil {
		return err
	}
	if what, ok := n[c]; ok {
		return invalid("username is %s: a user named like an application could be taken for it (group members are named by username or client ID); choose another username", what)
	}
	return nil
}

// checkNewUsername is newUsername against the applications in tx.
func checkNewUsername(tx *store.Tx, c string) error {
	n, err := appNamesIn(tx)
	if err != nil {
		return err
	}
	return n.newUsername(c)
}

// usernameOf returns the user whose username is, case-folded, the name
// or client ID v of an application, if any.
func usernameOf(tx *store.Tx, v string) (store.User, bool, error) {
	c, err := credential.CanonicalUsername(v)
	if err != nil {
		return store.User{}, false, nil
	}
	u, err := tx.Users().GetByUsername(c)
	switch {
	case err == nil:
		return u, true, nil
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, false, nil
	}
	return store.User{}, false, err
}

// checkAppName refuses a new application's name that is a username.
func checkAppName(tx *store.Tx, name string) error {
	_, taken, err := usernameOf(tx, name)
	if err != nil {
		return err
	}
	if taken {
		return invalid("application name %q is a user's username: an application named like a user could be taken for it; choose another name", name)
	}
	return nil
}

// resolveMember finds the one member ref names among the records a may
// see: "user:X" a user by ID or username, "app:X" an application by ID
// or client ID, a bare X either, refused when it names both.
func resolveMember(g *Groups, tx *store.Tx, a change.Actor, ref string) (store.Member, string, error) {
	kind, name, ok := cutKind(ref)
	if !ok {
		return store.Member{}, "", invalid("member %q must be user:<id|username>, app:<id|clientId> or a bare name", ref)
	}
	if name == "" {
		return store.Member{}, "", missing("member")
	}
	type found struct {
		m     store.Member
		shown string
	}
	var fs []found
	var miss error // the kind's own not-found answer, for user:X and app:X
	if kind == "" || kind == store.MemberUser {
		u, err := g.tenants.lookupUserIn(tx, a, name)
		switch {
		case err == nil:
			fs = append(fs, found{store.Member{Kind: store.MemberUser, ID: u.ID}, u.Username})
		case !errors.Is(err, api.ErrNotFound):
			return store.Member{}, "", err
		default:
			miss = err
		}
	}
	if kind == "" || kind == store.MemberApp {
		ap, err := g.tenants.LookupAppIn(tx, a, name)
		switch {
		case err == nil:
			fs = append(fs, found{store.Member{Kind: store.MemberApp, ID: ap.ID}, ap.ClientID})
		case !errors.Is(err, api.ErrNotFound):
			return store.Member{}, "", err
		default:
			miss = err
		}
	}
	switch {
	case len(fs) == 1:
		return fs[0].m, fs[0].shown, nil
	case len(fs) > 1:
		u, ap := fs[0], fs[1]
		return store.Member{}, "", invalid("member %q names two subjects, user:%s (id %s) and app:%s (id %s): write user:%s or app:%s to say which",
			ref, u.shown, u.m.ID, ap.shown, ap.m.ID, name, name)
	case kind != "":
		return store.Member{}, "", miss
	}
	return store.Member{}, "", fmt.Errorf("identity: member %q: %w: no user or application has that id or name", ref, api.ErrNotFound)
}

// cutKind splits "user:X" and "app:X"; a reference without a colon is a
// bare X of either kind; another kind is not ok.
func cutKind(ref string) (kind, name string, ok bool) {
	kind, name, found := strings.Cut(ref, ":")
	if !found {
		return "", ref, true
	}
	return kind, name, kind == store.MemberUser || kind == store.MemberApp
}

package directory

import (
	"errors"
	"fmt"
	"strings"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Sign-in by e-mail address. Lerian's console asks for an address and
// sends it as the username, so a sign-in name is looked up first as a
// username, then, when it holds an "@", as an address. Addresses are kept
// unique in their folded form (store.FoldEmail), and a username may not
// be another account's address nor an address another account's
// username, so a name resolves to at most one account. Addresses that
// several accounts shared before accessd kept them unique are marked
// store.User.EmailShared and are not found here: those accounts sign in
// by username until an admin resolves the clash.

// findSignIn resolves a sign-in name to its account: by canonical
// username, else by address. Both ways cost the same index reads whether
// or not the account exists (an unknown username with an "@" is looked
// up as an address too), and an unusable name is simply not found.
func findSignIn(users *store.UserRepo, name string) (store.User, error) {
	if c, err := credential.CanonicalUsername(name); err == nil {
		u, err := users.GetByUsername(c)
		if !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	if !strings.Contains(name, "@") || len(name) > 254 {
		return store.User{}, store.ErrNotFound
	}
	return users.GetByEmail(store.FoldEmail(name))
}

// AttemptKey is the key under which a sign-in attempt with this name is
// throttled: the account's ID when the name resolves to one, so that its
// username and its address share one budget; else the folded name, so
// guesses at unknown names are throttled too. The key is opaque: it
// says nothing the caller may show.
func (s *SignInDirectory) AttemptKey(name string) string {
	if u, err := findSignIn(s.c.st.Users(), name); err == nil {
		return "id:" + u.ID
	}
	if c, err := credential.CanonicalUsername(name); err == nil {
		return "name:" + c
	}
	return "name:" + store.FoldEmail(name)
}

// takenErr turns the store's refusal of a unique sign-in name into an
// answer that says which value clashed and what to do.
func takenErr(username, email string, err error) error {
	var te *store.TakenError
	if !errors.As(err, &te) {
		return err
	}
	switch {
	case te.Index == "username" && te.Cross:
		return fmt.Errorf("identity: email %q: %w: it is another account's username, and sign-in takes either; choose another address", email, api.ErrExists)
	case te.Index == "username":
		return fmt.Errorf("identity: username %q: %w", username, api.ErrExists)
	case te.Index == "email" && te.Cross:
		return fmt.Errorf("identity: username %q: %w: it is another account's e-mail address, and sign-in takes either; choose another username", username, api.ErrExists)
	case te.Index == "email":
		return fmt.Errorf("identity: email %q: %w: another account has this address (addresses are compared ignoring case)", email, api.ErrExists)
	case te.Index == "emailshared":
		return fmt.Errorf("identity: email %q: %w: another account has this address, shared by several accounts since before addresses were unique (accessctl review flags them; give them other addresses first)", email, api.ErrExists)
	}
	return err
}

// resolveShared decides, on an edit of the account cur whose address is
// marked shared, whether the mark goes: with another address, yes (the
// store then claims that one, or refuses it); with the same one (newEmail
// nil or equal, folded), only once no other account holds it, and then
// its shared mark is released in tx; naming the same address while
// another account holds it is refused. An edit of an unmarked account
// resolves nothing.
func (s *Users) resolveShared(tx *store.Tx, cur store.User, newEmail *string) (bool, error) {
	if !cur.EmailShared {
		return false, nil
	}
	f := store.FoldEmail(cur.Email)
	if newEmail != nil && store.FoldEmail(*newEmail) != f {
		return true, nil
	}
	free, err := emailFree(tx, f, cur.ID)
	switch {
	case err != nil:
		return false, err
	case !free && newEmail != nil:
		return false, fmt.Errorf("identity: email %q: %w: other accounts still have this address; give them other addresses first (accessctl review flags them)", *newEmail, api.ErrExists)
	case !free:
		return false, nil
	}
	return true, tx.Users().ReleaseSharedEmail(f)
}

// emailFree reports whether no account but self holds the folded
// address, as an address (indexed or marked shared) or as a username: a
// shared mark may then be lifted. It scans the users, which only an
// admin's edit of a marked account does.
func emailFree(tx *store.Tx, folded, self string) (bool, error) {
	if u, err := tx.Users().GetByUsername(folded); err == nil && u.ID != self {
		return false, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	free := true
	err := tx.Users().Scan("", func(u store.User) (bool, error) {
		if u.ID != self && u.Email != "" && store.FoldEmail(u.Email) == folded {
			free = false
		}
		return free, nil
	})
	return free, err
}

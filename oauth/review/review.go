package review

import (
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/store"
)

// isAdminPerms reports whether permissions grant every action on every
// resource of every product.
func isAdminPerms(ps []api.Permission) bool {
	for _, p := range ps {
		if p.Product == "" && p.Resource == "*" && p.Action == "*" {
			return true
		}
	}
	return false
}

func age(since, now time.Time) string {
	if since.IsZero() {
		return "unknown"
	}
	return now.Sub(since).Round(time.Hour).String()
}

// Review is the access review: every user and application with groups,
// effective permissions, credential age and last use, the flags an
// auditor looks for, and the machine-to-machine links by direction. An
// account is unused, and a credential stale, when older than stale (zero
// means the rotation policy, max_secret_age).
func (s *Admin) Review(stale time.Duration) (api.Review, error) {
	now := s.now().UTC()
	if stale <= 0 {
		stale = s.maxSecretAge
	}
	if stale <= 0 {
		stale = 2160 * time.Hour
	}
	out := api.Review{GeneratedAt: now, Users: []api.ReviewSubject{}, Applications: []api.ReviewSubject{}, Links: []api.M2MLink{}}
	adminGroups := map[string]bool{}
	err := s.st.View(func(tx *store.Tx) error {
		groups, err := tx.Groups().List("", 0)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if isAdminPerms(directory.APIPerms(g.Permissions)) {
				adminGroups[g.Name] = true
			}
		}
		inAdmin := func(gs []string) bool { return slices.ContainsFunc(gs, func(g string) bool { return adminGroups[g] }) }
		apps, err := tx.Applications().List("", 0)
		if err != nil {
			return err
		}
		names := directory.AppNamesOf(apps)
		usernames := map[string]bool{}
		if err := tx.Users().Scan("", func(u store.User) (bool, error) {
			c, err := tx.Credentials().Get(u.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			l, err := tx.Logins().Get(u.ID)
			if err != nil {
				return false, err
			}
			r := api.ReviewSubject{Kind: "user", ID: u.ID, Name: u.Username, Groups: nonNil(u.Groups),
				Permissions: nonNilPerms(s.index.Effective(u.ID)), CredentialAge: age(c.PasswordChangedAt, now),
				LastUsed: l.LastLoginAt, Flags: []string{}}
			if u.Disabled {
				r.Flags = append(r.Flags, api.FlagDisabled)
			}
			if !c.PasswordChangedAt.IsZero() && now.Sub(c.PasswordChangedAt) > stale {
				r.Flags = append(r.Flags, api.FlagStaleCredential)
			}
			if unused(l.LastLoginAt, u.CreatedAt, now, stale) {
				r.Flags = append(r.Flags, api.FlagUnused)
			}
			if inAdmin(u.Groups) && !c.SecondFactor() {
				r.Flags = append(r.Flags, api.FlagAdminNoMFA)
			}
			if u.EmailShared {
				r.Flags = append(r.Flags, api.FlagEmailShared)
			}
			if names.LookAlike(u.Username) != "" {
				r.Flags = append(r.Flags, api.FlagLookAlike)
			}
			usernames[u.Username] = true
			out.Users = append(out.Users, r)
			return true, nil
		}); err != nil {
			return err
		}
		for _, a := range apps {
			l, err := tx.Logins().Get(a.ID)
			if err != nil {
				return err
			}
			var newest time.Time
			for _, h := range directory.LiveSecrets(a.SecretHashes, now) {
				if h.CreatedAt.After(newest) {
					newest = h.CreatedAt
				}
			}
			perms := nonNilPerms(s.index.Effective(a.ID))
			r := api.ReviewSubject{Kind: "app", ID: a.ID, Name: a.ClientID, Groups: nonNil(a.Groups),
				Permissions: perms, CredentialAge: age(newest, now), LastUsed: l.LastLoginAt, Flags: []string{}}
			if !newest.IsZero() && now.Sub(newest) > stale {
				r.Flags = append(r.Flags, api.FlagStaleCredential)
			}
			if s.maxSecretAge > 0 && !newest.IsZero() && now.Sub(newest) > s.maxSecretAge {
				r.Flags = append(r.Flags, api.FlagSecretTooOld)
			}
			if unused(l.LastLoginAt, a.CreatedAt, now, stale) {
				r.Flags = append(r.Flags, api.FlagUnused)
			}
			if len(a.Groups) == 0 {
				r.Flags = append(r.Flags, api.FlagAppNoGroups)
			}
			if inAdmin(a.Groups) {
				r.Flags = append(r.Flags, api.FlagAppInAdminGroup)
			}
			if namedLikeUser(usernames, a) {
				r.Flags = append(r.Flags, api.FlagLookAlike)
			}
			out.Applications = append(out.Applications, r)
			out.Links = append(out.Links, links(a.ClientID, perms)...)
		}
		return nil
	})
	return out, change.StoreErr("identity", "review", err)
}

// namedLikeUser reports whether an application's name or client ID is,
// case-folded, one of usernames.
func namedLikeUser(usernames map[string]bool, a store.Application) bool {
	for _, v := range []string{a.Name, a.ClientID} {
		if c, err := credential.CanonicalUsername(v); err == nil && usernames[c] {
			return true
		}
	}
	return false
}

// unused: never used and created longer ago than stale, or last used
// longer ago than stale.
func unused(last, created, now time.Time, stale time.Duration) bool {
	if last.IsZero() {
		return now.Sub(created) > stale
	}
	return now.Sub(last) > stale
}

// links groups an application's permissions by product: one direction
// of machine-to-machine access per product, "*" for any product.
func links(clientID string, perms []api.Permission) []api.M2MLink {
	by := map[string][]string{}
	for _, p := range perms {
		prod := p.Product
		if prod == "" {
			prod = "*"
		}
		act := p.Action
		if p.Resource != "*" {
			act = p.Action + " " + p.Resource
		}
		if !slices.Contains(by[prod], act) {
			by[prod] = append(by[prod], act)
		}
	}
	var out []api.M2MLink
	for prod, acts := range by {
		sort.Strings(acts)
		out = append(out, api.M2MLink{ClientID: clientID, Product: prod, Actions: acts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Product < out[j].Product })
	return out
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func nonNilPerms(ps []authz.Permission) []api.Permission {
	return authz.WireList(ps)
}

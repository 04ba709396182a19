package delivery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// Which provider delivers a code.
//
// Providers are addressed by ID, as Lerian's are, and their names stay
// unique (a name may not look like an ID, so either addresses one
// provider). The provider that delivers a user's e-mail or SMS code is
// chosen, never found by order:
//
//  1. the default of its category linked to the application the user
//     signs in through (the client of the password grant, or of the
//     bearer token for an enrolment), set with PATCH
//     /v1/applications/{id}/providers/{providerId}/default;
//  2. else the category's default (`accessctl provider set-default`);
//  3. else none: the code is not sent, the audit log says why, and the
//     log names the command that sets a default.
//
// Setting a default, linking and unlinking are audited.

// idShape is the form of a provider ID: a UUID.
var idShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// lookupProvider finds a provider by ID, else by name (names never look
// like IDs). There are only a handful of providers, so it lists them.
func lookupProvider(tx *store.Tx, idOrName string) (store.Provider, error) {
	ps, err := tx.Providers().List()
	if err != nil {
		return store.Provider{}, err
	}
	for _, p := range ps {
		if p.ID != "" && p.ID == idOrName {
			return p, nil
		}
	}
	for _, p := range ps {
		if p.Name == idOrName {
			return p, nil
		}
	}
	return store.Provider{}, fmt.Errorf("identity: provider %q: %w; `accessctl provider list` shows the providers", idOrName, api.ErrNotFound)
}

// unlinkEverywhere removes every application's link to provider id and
// returns how many applications had one.
func unlinkEverywhere(tx *store.Tx, id string) (int, error) {
	apps, err := tx.Applications().List("", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ap := range apps {
		if !slices.ContainsFunc(ap.Providers, func(l store.AppProvider) bool { return l.ProviderID == id }) {
			continue
		}
		n++
		if _, err := tx.Applications().Update(ap.ID, func(ap store.Application) (store.Application, error) {
			ap.Providers = slices.DeleteFunc(slices.Clone(ap.Providers), func(l store.AppProvider) bool { return l.ProviderID == id })
			return ap, nil
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}

// SetDefaultProvider makes a provider its category's default, and no
// other provider of the category one.
func (s *Providers) SetDefaultProvider(ctx context.Context, a change.Actor, idOrName string) (api.Provider, error) {
	if err := s.dir.SharedConfig(a, "delivery providers"); err != nil {
		return api.Provider{}, err
	}
	var out, before store.Provider
	err := s.st.Update(func(tx *store.Tx) error {
		p, err := lookupProvider(tx, idOrName)
		if err != nil {
			return err
		}
		all, err := tx.Providers().List()
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Category != p.Category || o.Name == p.Name || !o.Default {
				continue
			}
			before = o
			if _, err := tx.Providers().Update(o.Name, func(o store.Provider) (store.Provider, error) {
				o.Default = false
				return o, nil
			}); err != nil {
				return err
			}
		}
		if out, err = tx.Providers().Update(p.Name, func(p store.Provider) (store.Provider, error) {
			p.Default = true
			return p, nil
		}); err != nil {
			return err
		}
		return tx.Audit().Stage(a.Entry(s.now(), "provider.set_default", "provider:"+out.ID, "ok",
			map[string]string{"name": out.Name, "category": out.Category, "previous": before.ID}))
	})
	if err != nil {
		return api.Provider{}, change.StoreErr("identity", "set default provider "+idOrName, err)
	}
	return providerView(out), nil
}

// errNoDefault says that no provider is chosen for a category, and how
// to choose one.
func errNoDefault(category string) error {
	return fmt.Errorf("identity: %w: no default %s provider is set, so the code was not sent; run `accessctl provider set-default ID|NAME` (`accessctl provider list` shows them), or `accessctl provider create --category %s …` if there is none",
		api.ErrUnavailable, category, category)
}

// ProviderFor picks the provider that delivers a category's code for a
// sign-in through clientID (empty: none): the application's default of
// the category, else the category's default.
func (s *Providers) ProviderFor(clientID, category string) (store.Provider, error) {
	var out store.Provider
	err := s.st.View(func(tx *store.Tx) error {
		ps, err := tx.Providers().List()
		if err != nil {
			return err
		}
		byID := func(id string) (store.Provider, bool) {
			i := slices.IndexFunc(ps, func(p store.Provider) bool { return p.ID == id })
			if i < 0 {
				return store.Provider{}, false
			}
			return ps[i], true
		}
		// Exactly one default decides; two (a store changed by hand, a
		// bug) decide nothing rather than the first by name.
		var chosen []store.Provider
		if clientID != "" {
			ap, err := tx.Applications().GetByClientID(clientID)
			switch {
			case err == nil:
				for _, l := range ap.Providers {
					if p, ok := byID(l.ProviderID); ok && l.Default && p.Category == category {
						chosen = append(chosen, p)
					}
				}
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		if len(chosen) == 0 {
			for _, p := range ps {
				if p.Default && p.Category == category {
					chosen = append(chosen, p)
				}
			}
		}
		switch len(chosen) {
		case 0:
			return errNoDefault(category)
		case 1:
			out = chosen[0]
			return nil
		}
		return fmt.Errorf("identity: %w: %d %s providers are marked default, so none is chosen and the code was not sent; run `accessctl provider set-default ID|NAME` (or set the application's default) to choose one",
			api.ErrUnavailable, len(chosen), category)
	})
	if err != nil {
		return store.Provider{}, change.StoreErr("identity", "choose a "+category+" provider", err)
	}
	return out, nil
}

// MigrateProviders brings providers made before IDs and defaults up to
// date, once at start and idempotently: each gets an ID; a category with
// exactly one provider and no default makes that one its default; a
// category with several and no default is left without one, and the log
// says what to run, because picking one would be an accident of order.
func (s *Providers) MigrateProviders(ctx context.Context) error {
	var undecided map[string][]string
	err := s.st.Update(func(tx *store.Tx) error {
		undecided = map[string][]string{}
		ps, err := tx.Providers().List()
		if err != nil {
			return err
		}
		byCategory := map[string][]store.Provider{}
		for i, p := range ps {
			if p.ID == "" {
				id, err := s.st.NewID()
				if err != nil {
					return err
				}
				if ps[i], err = tx.Providers().Update(p.Name, func(p store.Provider) (store.Provider, error) {
					p.ID = id
					return p, nil
				}); err != nil {
					return err
				}
				if err := tx.Audit().Stage(change.System.Entry(s.now(), "provider.migrate", "provider:"+id, "ok", map[string]string{"name": p.Name, "change": "id"})); err != nil {
					return err
				}
			}
			byCategory[ps[i].Category] = append(byCategory[ps[i].Category], ps[i])
		}
		for category, group := range byCategory {
			if slices.ContainsFunc(group, func(p store.Provider) bool { return p.Default }) {
				continue
			}
			if len(group) > 1 {
				for _, p := range group {
					undecided[category] = append(undecided[category], p.Name)
				}
				continue
			}
			p, err := tx.Providers().Update(group[0].Name, func(p store.Provider) (store.Provider, error) {
				p.Default = true
				return p, nil
			})
			if err != nil {
				return err
			}
			if err := tx.Audit().Stage(change.System.Entry(s.now(), "provider.set_default", "provider:"+p.ID, "ok",
				map[string]string{"name": p.Name, "category": p.Category, "reason": "the only provider of its category"})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return change.StoreErr("identity", "migrate providers", err)
	}
	ps, err := s.st.Providers().List()
	if err != nil {
		return change.StoreErr("identity", "list providers", err)
	}
	for _, p := range ps {
		host, port := destinationOf(p)
		if err := s.dest.settable(true, host, port); err != nil {
			s.log.Warn("a delivery provider points where nothing is delivered unless [delivery] allow_hosts lists it; its sends fail until then",
				"event", "provider.destination_not_allowed", "provider", p.Name, "host", host, "err", err)
		}
	}
	for category, names := range undecided {
		s.log.Warn("no default delivery provider for a category with several providers: its codes are not sent until one is chosen; run `accessctl provider set-default ID|NAME`",
			"event", "provider.no_default", "category", category, "providers", names)
	}
	return nil
}

func appProviderView(l store.AppProvider, p store.Provider) api.AppProvider {
	return api.AppProvider{ProviderID: l.ProviderID, Name: p.Name, Category: p.Category, Type: p.Type,
		CanSignIn: l.CanSignIn, CanSignUp: l.CanSignUp, CanUnlink: l.CanUnlink, Prompted: l.Prompted,
		AlertType: l.AlertType, Rule: l.Rule, Default: l.Default}
}

// changeAppProviders runs fn on an application's links inside one
// transaction with its audit entry; fn returns the link to show.
func (s *Providers) changeAppProviders(a change.Actor, appID, typ string, fn func(tx *store.Tx, links []store.AppProvider) ([]store.AppProvider, store.AppProvider, store.Provider, error)) (api.AppProvider, error) {
	var out api.AppProvider
	err := s.st.Update(func(tx *store.Tx) error {
		ap, err := s.dir.LookupAppIn(tx, a, appID)
		if err != nil {
			return err
		}
		if err := s.dir.MayActOn(a, ap.ID); err != nil {
			return err
		}
		links, l, p, err := fn(tx, slices.Clone(ap.Providers))
		if err != nil {
			return err
		}
		if _, err := tx.Applications().Update(ap.ID, func(ap store.Application) (store.Application, error) {
			ap.Providers = links
			return ap, nil
		}); err != nil {
			return err
		}
		out = appProviderView(l, p)
		return tx.Audit().Stage(a.Entry(s.now(), typ, "app:"+ap.ClientID, "ok",
			map[string]string{"id": ap.ID, "provider": p.ID, "providerName": p.Name, "default": fmt.Sprint(l.Default)}))
	})
	return out, change.StoreErr("identity", "application providers", err)
}

func linkIndex(links []store.AppProvider, providerID string) int {
	return slices.IndexFunc(links, func(l store.AppProvider) bool { return l.ProviderID == providerID })
}

// LinkProvider links a provider (by ID or name) to an application.
func (s *Providers) LinkProvider(ctx context.Context, a change.Actor, appID string, req api.LinkProviderRequest) (api.AppProvider, error) {
	if req.ProviderID == "" {
		return api.AppProvider{}, change.Missing("identity", "providerId")
	}
	for what, v := range map[string]string{"alertType": req.AlertType, "rule": req.Rule} {
		if len(v) > 1024 {
			return api.AppProvider{}, change.Invalid("identity", "%s is longer than 1024 bytes", what)
		}
		if err := credential.CheckText(what, v); err != nil {
			return api.AppProvider{}, err
		}
	}
	return s.changeAppProviders(a, appID, "app.provider_link", func(tx *store.Tx, links []store.AppProvider) ([]store.AppProvider, store.AppProvider, store.Provider, error) {
		p, err := lookupProvider(tx, req.ProviderID)
		if err != nil {
			return nil, store.AppProvider{}, p, err
		}
		if linkIndex(links, p.ID) >= 0 {
			return nil, store.AppProvider{}, p, fmt.Errorf("identity: provider %s is already linked to the application: %w", p.Name, api.ErrExists)
		}
		l := store.AppProvider{ProviderID: p.ID, CanSignIn: req.CanSignIn, CanSignUp: req.CanSignUp, CanUnlink: req.CanUnlink,
			Prompted: req.Prompted, AlertType: req.AlertType, Rule: req.Rule}
		return append(links, l), l, p, nil
	})
}

// UnlinkProvider removes a provider's link from an application; the
// provider itself stays. When it was the application's default for its
// category, the category's default delivers for the application again.
func (s *Providers) UnlinkProvider(ctx context.Context, a change.Actor, appID, providerID string) error {
	_, err := s.changeAppProviders(a, appID, "app.provider_unlink", func(tx *store.Tx, links []store.AppProvider) ([]store.AppProvider, store.AppProvider, store.Provider, error) {
		p, err := lookupProvider(tx, providerID)
		if err != nil {
			return nil, store.AppProvider{}, p, err
		}
		i := linkIndex(links, p.ID)
		if i < 0 {
			return nil, store.AppProvider{}, p, fmt.Errorf("identity: provider %s is not linked to the application: %w", p.Name, api.ErrNotFound)
		}
		l := links[i]
		return slices.Delete(links, i, i+1), l, p, nil
	})
	return err
}

// SetAppDefaultProvider makes a linked provider the application's
// default for its category (and no other linked provider of the
// category its default).
func (s *Providers) SetAppDefaultProvider(ctx context.Context, a change.Actor, appID, providerID string) (api.AppProvider, error) {
	return s.changeAppProviders(a, appID, "app.provider_default", func(tx *store.Tx, links []store.AppProvider) ([]store.AppProvider, store.AppProvider, store.Provider, error) {
		p, err := lookupProvider(tx, providerID)
		if err != nil {
			return nil, store.AppProvider{}, p, err
		}
		i := linkIndex(links, p.ID)
		if i < 0 {
			return nil, store.AppProvider{}, p, fmt.Errorf("identity: provider %s is not linked to the application; link it first (POST /v1/applications/{id}/providers): %w", p.Name, api.ErrNotFound)
		}
		all, err := tx.Providers().List()
		if err != nil {
			return nil, store.AppProvider{}, p, err
		}
		for j := range links {
			k := slices.IndexFunc(all, func(o store.Provider) bool { return o.ID == links[j].ProviderID })
			if k >= 0 && all[k].Category == p.Category {
				links[j].Default = false
			}
		}
		links[i].Default = true
		return links, links[i], p, nil
	})
}

// ListAppProviders lists the providers linked to an application.
func (s *Providers) ListAppProviders(a change.Actor, appID string) ([]api.AppProvider, error) {
	out := []api.AppProvider{}
	err := s.st.View(func(tx *store.Tx) error {
		ap, err := s.dir.LookupAppIn(tx, a, appID)
		if err != nil {
			return err
		}
		ps, err := tx.Providers().List()
		if err != nil {
			return err
		}
		for _, l := range ap.Providers {
			if i := slices.IndexFunc(ps, func(p store.Provider) bool { return p.ID == l.ProviderID }); i >= 0 {
				out = append(out, appProviderView(l, ps[i]))
			}
		}
		return nil
	})
	return out, change.StoreErr("identity", "list application providers", err)
}

package directory

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// DefaultGrace is how long a rotated-out secret keeps working.
const DefaultGrace = 24 * time.Hour

// maxGrace bounds a rotation's grace period.
const maxGrace = 30 * 24 * time.Hour

func appView(a store.Application, l store.LoginState, now time.Time) api.Application {
	v := api.Application{ID: a.ID, Name: a.Name, Description: a.Description, ClientID: a.ClientID,
		Groups: a.Groups, CertSubject: a.CertSubject, ExpiresAt: a.ExpiresAt, CreatedAt: a.CreatedAt,
		LastUsedAt: l.LastLoginAt, Secrets: []api.Secret{}, TenantID: a.TenantID, TenantSlug: a.TenantSlug}
	if v.Groups == nil {
		v.Groups = []string{}
	}
	if len(a.CertSPKI) > 0 {
		v.CertSPKI = hex.EncodeToString(a.CertSPKI)
	}
	for _, sh := range LiveSecrets(a.SecretHashes, now) {
		v.Secrets = append(v.Secrets, api.Secret{CreatedAt: sh.CreatedAt, ExpiresAt: sh.ExpiresAt})
	}
	return v
}

// LiveSecrets drops secrets whose grace period has ended.
func LiveSecrets(hs []store.SecretHash, now time.Time) []store.SecretHash {
	return slices.DeleteFunc(slices.Clone(hs), func(h store.SecretHash) bool {
		return !h.ExpiresAt.IsZero() && !now.Before(h.ExpiresAt)
	})
}

func (s *core) lookupApp(tx *store.Tx, idOrClientID string) (store.Application, error) {
	return byIDOrKey("application", idOrClientID, idOrClientID, true, tx.Applications().Get, tx.Applications().GetByClientID)
}

// appIn is an application's view with its login state, inside tx.
func appIn(tx *store.Tx, ap store.Application, now time.Time) (api.Application, error) {
	l, err := tx.Logins().Get(ap.ID)
	if err != nil {
		return api.Application{}, err
	}
	return appView(ap, l, now), nil
}

// CreateApplication makes a machine-to-machine client and returns its
// secret once; only its keyed hash is stored.
func (s *Applications) CreateApplication(ctx context.Context, a change.Actor, req api.CreateApplicationRequest) (api.CreatedApplication, error) {
	var out api.CreatedApplication
	if err := s.login.StepUp(ctx, a, "create an application"); err != nil {
		return out, err
	}
	if req.Name == "" {
		return out, missing("name")
	}
	if err := errors.Join(checkName("name", req.Name), checkName("description", req.Description)); err != nil {
		return out, err
	}
	app := store.Application{Name: req.Name, Description: req.Description, Groups: dedupe(req.Groups), CertSubject: req.CertSubject}
	if req.CertSPKI != "" && req.CertSubject != "" {
		return out, invalid("give certSpki or certSubject, not both")
	}
	if req.CertSPKI != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(req.CertSPKI, ":", ""))
		if err != nil || len(b) != 32 {
			return out, invalid("certSpki must be the hex SHA-256 of the certificate's SubjectPublicKeyInfo (openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum)")
		}
		app.CertSPKI = b
	}
	if len(req.CertSubject) > 1024 {
		return out, invalid("certSubject is longer than 1024 characters")
	}
	if err := credential.CheckText("certSubject", req.CertSubject); err != nil {
		return out, err
	}
	now := s.c.now().UTC()
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return out, invalid("expiresIn must be a positive duration like \"720h\"")
		}
		app.ExpiresAt = now.Add(d)
	}
	secret, err := credential.NewClientSecret(s.c.rand)
	if err != nil {
		return out, err
	}
	defer secret.Clear()
	if app.ClientID, err = credential.NewClientID(s.c.rand); err != nil {
		return out, err
	}
	app.SecretHashes = []store.SecretHash{{Hash: secret.Hash(s.c.st), CreatedAt: now}}
	app.CreatedAt = now
	err = s.c.st.Update(func(tx *store.Tx) error {
		if err := checkGroupsExist(tx, app.Groups); err != nil {
			return err
		}
		if err := s.tenants.checkGroupsVisible(tx, a, app.Groups); err != nil {
			return err
		}
		if err := s.tenants.mayConferGroups(tx, a, app.Groups); err != nil {
			return err
		}
		if err := checkAppName(tx, app.Name); err != nil {
			return err
		}
		var err error
		if app.TenantID, app.TenantSlug, err = s.tenants.newTenant(tx, a, req.TenantID, req.TenantSlug); err != nil {
			return err
		}
		if app, err = tx.Applications().Create(app); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "app.create", "app:"+app.ClientID, "ok",
			map[string]string{"id": app.ID, "groups": strings.Join(app.Groups, ",")}))
	})
	if err != nil {
		return out, storeErr("create application", err)
	}
	s.c.RefreshSubject(app.ID)
	groups := app.Groups
	if groups == nil {
		groups = []string{}
	}
	return api.CreatedApplication{ID: app.ID, Name: app.Name, Description: app.Description, ClientID: app.ClientID,
		ClientSecret: secret.Reveal(), Groups: groups, CreatedAt: app.CreatedAt}, nil
}

// ListApplications returns every application, never a secret.
func (s *Applications) ListApplications() ([]api.Application, error) {
	return s.ListApplicationsFor(change.System)
}

// ListApplicationsFor is ListApplications for the caller a: only its
// tenant's applications.
func (s *Applications) ListApplicationsFor(a change.Actor) ([]api.Application, error) {
	out := []api.Application{}
	now := s.c.now()
	err := s.c.st.View(func(tx *store.Tx) error {
		sc, err := s.tenants.scopeOf(tx, a)
		if err != nil {
			return err
		}
		apps, err := tx.Applications().List("", 0)
		if err != nil {
			return err
		}
		for _, ap := range apps {
			if !sc.sees(ap.TenantID) {
				continue
			}
			v, err := appIn(tx, ap, now)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, storeErr("list applications", err)
}

// GetApplication returns an application by ID or client ID, never a
// secret.
func (s *Applications) GetApplication(idOrClientID string) (api.Application, error) {
	return s.GetApplicationFor(change.System, idOrClientID)
}

// GetApplicationFor is GetApplication for the caller a: another
// tenant's application is not found.
func (s *Applications) GetApplicationFor(a change.Actor, idOrClientID string) (api.Application, error) {
	find := func(tx *store.Tx) (store.Application, error) { return s.tenants.LookupAppIn(tx, a, idOrClientID) }
	return viewOf(s.c.st, "get application", find, func(tx *store.Tx, ap store.Application) (api.Application, error) { return appIn(tx, ap, s.c.now()) })
}

// RotateApplication gives an application a new secret, returned once.
// The previous one keeps working until the grace period ends (default
// 24 h); at most two secrets are ever live, so a second rotation within
// the grace period ends the oldest at once.
func (s *Applications) RotateApplication(ctx context.Context, a change.Actor, idOrClientID string, grace string) (api.RotatedSecret, error) {
	var out api.RotatedSecret
	// Another tenant's application reads as missing before anything else
	// is said about the caller's session.
	if _, err := s.GetApplicationFor(a, idOrClientID); err != nil {
		return out, err
	}
	if err := s.login.StepUp(ctx, a, "rotate an application's secret"); err != nil {
		return out, err
	}
	g := DefaultGrace
	if grace != "" {
		d, err := time.ParseDuration(grace)
		if err != nil || d < 0 || d > maxGrace {
			return out, invalid("grace must be a duration from \"0s\" to %q", maxGrace.String())
		}
		g = d
	}
	secret, err := credential.NewClientSecret(s.c.rand)
	if err != nil {
		return out, err
	}
	defer secret.Clear()
	hash := secret.Hash(s.c.st)
	now := s.c.now().UTC()
	var ap store.Application
	err = s.c.st.Update(func(tx *store.Tx) error {
		var err error
		ap, err = s.updateAppIn(tx, a, idOrClientID, func(ap store.Application) (store.Application, error) {
			live := LiveSecrets(ap.SecretHashes, now)
			// Keep only the newest previous secret, ending at now+grace
			// (or sooner, if it was already going to end).
			var prev []store.SecretHash
			if n := len(live); n > 0 {
				p := live[n-1]
				if p.ExpiresAt.IsZero() || p.ExpiresAt.After(now.Add(g)) {
					p.ExpiresAt = now.Add(g)
				}
				if g > 0 {
					prev = append(prev, p)
				}
			}
			ap.SecretHashes = append(prev, store.SecretHash{Hash: hash, CreatedAt: now})
			return ap, nil
		})
		if err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "app.rotate", "app:"+ap.ClientID, "ok", map[string]string{"grace": g.String()}))
	})
	if err != nil {
		return out, storeErr("rotate application secret", err)
	}
	s.c.RefreshSubject(ap.ID)
	out = api.RotatedSecret{ClientID: ap.ClientID, ClientSecret: secret.Reveal()}
	if len(ap.SecretHashes) == 2 {
		out.PreviousExpiresAt = ap.SecretHashes[0].ExpiresAt
	}
	return out, nil
}

// LogoutApplication is an application's forced logout, as Users.Logout
// is a user's: its epoch moves in one transaction with the audit entry,
// so every access token it was issued before now stops passing at once.
// Its secrets keep working: it may ask for new tokens (rotate the secret
// or delete the application to stop that).
func (s *Applications) LogoutApplication(ctx context.Context, a change.Actor, idOrClientID string) error {
	now := s.c.now().UTC()
	var ap store.Application
	err := s.c.st.Update(func(tx *store.Tx) error {
		var err error
		ap, err = s.updateAppIn(tx, a, idOrClientID, func(ap store.Application) (store.Application, error) {
			ap.LogoutAt = now
			return ap, nil
		})
		if err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "app.logout", "app:"+ap.ClientID, "ok", nil))
	})
	if err != nil {
		return storeErr("log out application", err)
	}
	s.c.RefreshSubject(ap.ID)
	return nil
}

// updateAppIn changes, inside tx, the application a names: another
// tenant's reads as missing, and a must hold what it holds.
func (s *Applications) updateAppIn(tx *store.Tx, a change.Actor, idOrClientID string, fn func(store.Application) (store.Application, error)) (store.Application, error) {
	cur, err := s.tenants.LookupAppIn(tx, a, idOrClientID)
	if err != nil {
		return store.Application{}, err
	}
	if err := s.tenants.MayActOn(a, cur.ID); err != nil {
		return store.Application{}, err
	}
	return tx.Applications().Update(cur.ID, fn)
}

// DeleteApplication removes an application: its secrets stop working and
// tokens it holds stop passing decisions at once (it leaves the index).
func (s *Applications) DeleteApplication(ctx context.Context, a change.Actor, idOrClientID string) error {
	var ap store.Application
	err := s.c.st.Update(func(tx *store.Tx) error {
		var err error
		if ap, err = s.tenants.LookupAppIn(tx, a, idOrClientID); err != nil {
			return err
		}
		if err := s.tenants.MayActOn(a, ap.ID); err != nil {
			return err
		}
		if err := tx.Applications().Delete(ap.ID); err != nil {
			return err
		}
		if err := tx.Logins().Delete(ap.ID); err != nil {
			return err
		}
		return tx.Audit().Stage(s.c.entry(a, "app.delete", "app:"+ap.ClientID, "ok", map[string]string{"id": ap.ID}))
	})
	if err != nil {
		return storeErr("delete application", err)
	}
	s.c.RefreshSubject(ap.ID)
	s.c.endSessions(ap.ID)
	return nil
}

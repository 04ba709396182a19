package store

import (
	"fmt"
	"time"
)

// Provider is a delivery provider for e-mail or SMS one-time codes: an
// SMTP relay or an HTTPS SMS gateway. Its credential is sealed to the
// record (FieldProviderSecret) and never leaves the store in clear
// except to the code that delivers. Its record is keyed by its name
// (unique, never changed); ID is the identifier the API addresses it by,
// as Lerian's are.
type Provider struct {
	// ID is given at creation, or by the migration for providers made
	// before IDs existed.
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	Category string `json:"category"` // "Email" or "SMS", as Lerian names them
	Type     string `json:"type"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret is sealed to ProviderRecordKey(Name) and FieldProviderSecret.
	ClientSecret Sealed `json:"clientSecret,omitempty"`
	DisableSSL   bool   `json:"disableSsl,omitempty"`
	From         string `json:"from,omitempty"`
	// CAPEM is the PEM of the CA the relay's or gateway's certificate must
	// chain to; empty means the system roots.
	CAPEM      string `json:"caPem,omitempty"`
	URL        string `json:"url,omitempty"`
	Template   string `json:"template,omitempty"`
	AuthHeader string `json:"authHeader,omitempty"`
	// Default marks the provider that delivers its category's codes for
	// sign-ins through an application without a default of its own. At
	// most one per category; the Identity layer keeps it so.
	Default   bool      `json:"default,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   uint64    `json:"version"`
}

// NewID returns a new random record ID (a version 4 UUID), for records
// whose table is keyed by something else, like a provider by its name.
func (s *Store) NewID() (string, error) { return newID(s.rand) }

// FieldProviderSecret is the field name a provider's secret is sealed under.
const FieldProviderSecret = "clientSecret"

// ProviderRecordKey is the record key a provider's secret is sealed to.
func ProviderRecordKey(name string) string { return "provider/" + name }

func providerTable(s *Store) *table[Provider] {
	t := stampTable(s, "provider", "provider/",
		func(p *Provider) string { return p.Name },
		func(p *Provider) *uint64 { return &p.Version },
		func(p *Provider, now time.Time, created bool) {
			if created && p.CreatedAt.IsZero() {
				p.CreatedAt = now
			}
			p.UpdatedAt = now
		})
	t.sealed = []sealedField[Provider]{{name: FieldProviderSecret,
		recordKey: func(p *Provider) string { return ProviderRecordKey(p.Name) },
		field:     func(p *Provider) *Sealed { return &p.ClientSecret }}}
	return t
}

// ProviderRepo stores delivery providers by name.
type ProviderRepo struct {
	t *table[Provider]
	x exec
}

// Create stores a new provider; ErrExists when the name is taken.
func (r *ProviderRepo) Create(p Provider) (Provider, error) { return r.t.doCreate(r.x, p) }

// Get returns the provider with the given name, or ErrNotFound.
func (r *ProviderRepo) Get(name string) (Provider, error) { return r.t.doGet(r.x, name) }

// Update has UserRepo.Update's contract.
func (r *ProviderRepo) Update(name string, fn func(old Provider) (Provider, error)) (Provider, error) {
	return r.t.doUpdate(r.x, name, fn)
}

// Delete removes a provider; ErrNotFound if absent.
func (r *ProviderRepo) Delete(name string) error { return r.t.doDelete(r.x, name) }

// List returns every provider in name order; there are only a handful.
func (r *ProviderRepo) List() ([]Provider, error) { return r.t.doList(r.x, "", 0) }

// SealSecret seals a provider's secret for the provider named name. The
// caller clears secret.
func (r *ProviderRepo) SealSecret(name string, secret []byte) (Sealed, error) {
	return r.t.s.Barrier().SealField(ProviderRecordKey(name), FieldProviderSecret, secret)
}

// OpenSecret opens p.ClientSecret; nil when none is set. The caller
// clears the result.
func (r *ProviderRepo) OpenSecret(p Provider) ([]byte, error) {
	if len(p.ClientSecret) == 0 {
		return nil, nil
	}
	b, err := r.t.s.Barrier().OpenField(ProviderRecordKey(p.Name), FieldProviderSecret, p.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("store: open provider secret: %w", err)
	}
	return b, nil
}

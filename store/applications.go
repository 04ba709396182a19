package store

import "time"

// Application is a machine-to-machine OAuth client. Its secrets are kept
// only as keyed hashes (HMAC-SHA-256 with the Identity layer's pepper);
// several may be valid at once during a rotation's grace period. Its
// last use is in its LoginState, not here.
type Application struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Description  string       `json:"description,omitempty"`
	ClientID     string       `json:"clientId"`
	SecretHashes []SecretHash `json:"secretHashes,omitempty"`
	Groups       []string     `json:"groups,omitempty"`
	// CertSPKI is the SHA-256 of the client certificate's
	// SubjectPublicKeyInfo for tls_client_auth; CertSubject the DN
	// alternative. Both empty: no certificate binding.
	CertSPKI    []byte `json:"certSpki,omitempty"`
	CertSubject string `json:"certSubject,omitempty"`
	// Providers are the delivery providers linked to the application
	// (Lerian's Application Providers), by provider ID.
	Providers []AppProvider `json:"providers,omitempty"`
	ExpiresAt time.Time     `json:"expiresAt"`
	// LogoutAt is the application's epoch (`accessctl app logout`):
	// tokens issued before it are no longer honoured. Zero: none.
	LogoutAt  time.Time `json:"logoutAt"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   uint64    `json:"version"`

	// TenantID and TenantSlug: the application's tenant; empty for none.
	TenantID   string `json:"tenantId,omitempty"`
	TenantSlug string `json:"tenantSlug,omitempty"`
}

// AppProvider links a delivery provider to an application. Default
// marks the one that delivers the codes of its category for sign-ins
// through the application; at most one per category.
type AppProvider struct {
	ProviderID string `json:"providerId"`
	CanSignIn  bool   `json:"canSignIn,omitempty"`
	CanSignUp  bool   `json:"canSignUp,omitempty"`
	CanUnlink  bool   `json:"canUnlink,omitempty"`
	Prompted   bool   `json:"prompted,omitempty"`
	AlertType  string `json:"alertType,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Default    bool   `json:"default,omitempty"`
}

// SecretHash is one client secret's hash and validity window. A zero
// ExpiresAt never expires (subject to the rotation policy).
type SecretHash struct {
	Hash      []byte    `json:"hash"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// ApplicationRecordKey is the record key application fields are sealed to.
func ApplicationRecordKey(id string) string { return "app/" + id }

func clientIDKey(clientID string) []byte { return []byte("idx/clientid/" + clientID) }

func applicationTable(s *Store) *table[Application] {
	return &table[Application]{
		s: s, name: "application", prefix: []byte("app/"),
		id:      func(a *Application) string { return a.ID },
		version: func(a *Application) *uint64 { return &a.Version },
		indexes: func(a *Application) [][]byte {
			keys := [][]byte{clientIDKey(a.ClientID)}
			for _, g := range a.Groups {
				keys = append(keys, memberKey(g, MemberApp, a.ID))
			}
			return keys
		},
		create: func(a *Application, now time.Time) error {
			if err := checkKeyPart("client id", a.ClientID); err != nil {
				return err
			}
			if err := checkGroups(a.Groups); err != nil {
				return err
			}
			if a.ID == "" {
				id, err := newID(s.rand)
				if err != nil {
					return err
				}
				a.ID = id
			}
			if a.CreatedAt.IsZero() {
				a.CreatedAt = now
			}
			a.UpdatedAt = now
			return nil
		},
		update: func(_, a *Application, now time.Time) error {
			if err := checkKeyPart("client id", a.ClientID); err != nil {
				return err
			}
			if err := checkGroups(a.Groups); err != nil {
				return err
			}
			a.UpdatedAt = now
			return nil
		},
	}
}

// ApplicationRepo stores applications, with a unique client-ID index kept
// in the same transaction as the record.
type ApplicationRepo struct {
	t *table[Application]
	x exec
}

// Create stores a new application with Version 1; an empty ID gets a
// random UUID. ClientID is required; ErrExists when ID or ClientID is
// taken.
func (r *ApplicationRepo) Create(a Application) (Application, error) { return r.t.doCreate(r.x, a) }

// Get returns the application with the given ID, or ErrNotFound.
func (r *ApplicationRepo) Get(id string) (Application, error) { return r.t.doGet(r.x, id) }

// GetByClientID finds the application a token request names.
func (r *ApplicationRepo) GetByClientID(clientID string) (Application, error) {
	return r.t.doGetBy(r.x, "client id", clientIDKey(clientID))
}

// Update has UserRepo.Update's contract; a changed ClientID moves its
// index entry (ErrExists if taken).
func (r *ApplicationRepo) Update(id string, fn func(old Application) (Application, error)) (Application, error) {
	return r.t.doUpdate(r.x, id, fn)
}

// Delete removes an application and its client-ID index entry.
func (r *ApplicationRepo) Delete(id string) error { return r.t.doDelete(r.x, id) }

// List returns up to limit applications (all when limit <= 0) with IDs
// after the cursor, in ID order.
func (r *ApplicationRepo) List(after string, limit int) ([]Application, error) {
	return r.t.doList(r.x, after, limit)
}

// Count returns the number of applications.
func (r *ApplicationRepo) Count() (int, error) { return r.t.doCount(r.x) }

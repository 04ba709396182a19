package api

import "time"

// The Identity API, on both planes. Routes (the same paths on the admin
// socket and on the data plane; the admin plane adds /v1/apply,
// /v1/audit…, /v1/review, and by default alone mints application
// secrets):
//
//	POST   /v1/users                          CreateUserRequest -> 201 CreatedUser
//	GET    /v1/users?page=&limit=&group=&status=   -> [User], Link to the next page
//	GET    /v1/users/{id}                     (id or username) -> User
//	PATCH  /v1/users/{id}                     UpdateUserRequest -> User
//	DELETE /v1/users/{id}                     -> 204
//	POST   /v1/users/{id}/disable             -> User
//	POST   /v1/users/{id}/enable              -> User
//	PATCH  /v1/users/{id}/reset-password      ResetPasswordRequest -> 204, or 200 PasswordReset when generated
//	PATCH  /v1/users/{id}/update-password     UpdatePasswordRequest -> 204
//	POST   /v1/users/{id}/logout              -> 204 (forced logout)
//	GET    /v1/users/{id}/mfa                 -> MFAStatus
//	POST   /v1/users/{id}/mfa/setup           MFASetupRequest -> MFASetup
//	POST   /v1/users/{id}/mfa/verify          MFAVerifyRequest -> MFAVerified
//	POST   /v1/users/{id}/mfa/enable          MFAEnableRequest -> MFAEnabled
//	POST   /v1/users/{id}/mfa/disable         -> MFAStatus
//	PATCH  /v1/users/{id}/mfa/preferred       MFAPreferredRequest -> MFAPreferred
//
//	POST   /v1/providers                      CreateProviderRequest -> 201 Provider
//	GET    /v1/providers                      -> []Provider
//	GET    /v1/providers/{id}                 -> Provider (id, or the unique name)
//	PATCH  /v1/providers/{id}                 UpdateProviderRequest -> Provider
//	DELETE /v1/providers/{id}                 -> 204
//	POST   /v1/providers/{id}/test            ProviderTestRequest -> ProviderTestResult
//	POST   /v1/providers/{id}/default         -> Provider (the category's default)
//
//	POST   /v1/applications/{id}/providers                          LinkProviderRequest -> 201 AppProvider
//	GET    /v1/applications/{id}/providers                          -> []AppProvider
//	DELETE /v1/applications/{id}/providers/{providerId}             -> 204
//	PATCH  /v1/applications/{id}/providers/{providerId}/default     -> AppProvider
//
//	GET    /v1/groups                         -> []Group
//	GET    /v1/groups/{name}                  -> Group
//	POST   /v1/groups                         CreateGroupRequest -> 201 Group
//	DELETE /v1/groups/{name}                  -> 204
//	POST   /v1/groups/{name}/permissions      Permission -> Group (grant)
//	DELETE /v1/groups/{name}/permissions      Permission -> Group (revoke)
//	GET    /v1/groups/{name}/members          -> []Member
//	POST   /v1/groups/{name}/members          MemberRequest -> Group
//	DELETE /v1/groups/{name}/members/{member} -> 204
//
//	POST   /v1/applications                   CreateApplicationRequest -> 201 CreatedApplication
//	GET    /v1/applications                   -> []Application
//	GET    /v1/applications/{id}              (id or clientId) -> Application
//	POST   /v1/applications/{id}/rotate       RotateRequest -> RotatedSecret
//	DELETE /v1/applications/{id}              -> 204
//
//	POST   /v1/apply?dryRun=true|false        body: policy TOML -> ApplyResult   (admin plane)
//	POST   /v1/import?dryRun=true|false       body: Lerian export JSON -> ImportResult (admin plane)
//	GET    /v1/audit?since=RFC3339&type=T&limit=N -> []AuditEntry       (admin plane)
//	POST   /v1/audit/verify                   -> AuditVerify                  (admin plane)
//	GET    /v1/review?stale=DURATION          -> Review                       (admin plane)
//
// A {member} of a group is "user:<id|username>" or "app:<id|clientId>";
// a bare name is tried as a user, then as an application.

// User is a person's account as the API shows it: never a credential.
type User struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Email     string `json:"email"`
	// PhoneNumber is E.164 ("+4915112345678"): where SMS codes go.
	PhoneNumber string    `json:"phoneNumber,omitempty"`
	Groups      []string  `json:"groups"`
	Enabled     bool      `json:"enabled"`
	MFA         bool      `json:"mfaEnabled"`
	TenantID    string    `json:"tenantId,omitempty"`
	TenantSlug  string    `json:"tenantSlug,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// MustChangePassword is set after a generated reset: the password
	// grant is refused until update-password runs.
	MustChangePassword bool `json:"mustChangePassword,omitempty"`
}

// CreateUserRequest is Lerian's user body. An empty Password makes the
// server generate one and return it once.
type CreateUserRequest struct {
	Username    string   `json:"username"`
	Password    string   `json:"password,omitempty"`
	FirstName   string   `json:"firstName,omitempty"`
	LastName    string   `json:"lastName,omitempty"`
	Email       string   `json:"email"`
	PhoneNumber string   `json:"phoneNumber,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	// TenantID and TenantSlug are accepted on the admin socket only; on
	// the data plane a user is created in the caller's tenant.
	TenantID   string `json:"tenantId,omitempty"`
	TenantSlug string `json:"tenantSlug,omitempty"`
}

// CreatedUser is the created user, with the generated password when the
// request had none: shown once, never again.
type CreatedUser struct {
	User
	Password string `json:"password,omitempty"`
}

// UserList is one page of users as the directory returns it; on the
// wire the page is Items as a bare JSON array, and More is a Link header.
type UserList struct {
	Items []User `json:"items"`
	Page  int    `json:"page"`
	Limit int    `json:"limit"`
	// More is true when a later page has users.
	More bool `json:"more"`
}

// UpdateUserRequest is Lerian's PATCH body: nil fields are left alone.
type UpdateUserRequest struct {
	FirstName *string `json:"firstName,omitempty"`
	LastName  *string `json:"lastName,omitempty"`
	Email     *string `json:"email,omitempty"`
	// PhoneNumber "" removes the number.
	PhoneNumber *string   `json:"phoneNumber,omitempty"`
	Groups      *[]string `json:"groups,omitempty"`
	// TenantID (with TenantSlug) moves the user to another tenant, ""
	// to none: on the admin socket only.
	TenantID   *string `json:"tenantId,omitempty"`
	TenantSlug *string `json:"tenantSlug,omitempty"`
}

// ResetPasswordRequest is Lerian's reset body; an empty NewPassword makes
// the server generate a one-time password that must be changed before use.
type ResetPasswordRequest struct {
	NewPassword string `json:"newPassword,omitempty"`
}

// PasswordReset carries a generated one-time password, shown once.
type PasswordReset struct {
	Password string `json:"password"`
}

// UpdatePasswordRequest is a user changing their own password.
type UpdatePasswordRequest struct {
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}

// MFA types, as Lerian names them.
const (
	MFATypeApp   = "app" // TOTP
	MFATypeEmail = "email"
	MFATypeSMS   = "sms"
)

// MFAStatus is Lerian's GET …/mfa answer.
type MFAStatus struct {
	Enabled       bool     `json:"enabled"`
	PreferredType string   `json:"preferredType,omitempty"`
	Methods       []string `json:"methods"`
	TOTPEnabled   bool     `json:"totpEnabled"`
	EmailEnabled  bool     `json:"emailEnabled"`
	SMSEnabled    bool     `json:"smsEnabled"`
}

// MFASetupRequest starts enrolment of one factor.
type MFASetupRequest struct {
	MFAType string `json:"mfaType"`
}

// MFASetup is shown once: the TOTP secret, its otpauth URL and the
// recovery codes. For "email" and "sms" it carries none of them: a code
// was sent to the user's address or number, to be checked with verify.
type MFASetup struct {
	MFAType       string   `json:"mfaType"`
	Secret        string   `json:"secret"`
	URL           string   `json:"url"`
	RecoveryCodes []string `json:"recoveryCodes"`
	Enabled       bool     `json:"enabled"`
}

// MFAVerifyRequest checks a code during enrolment.
type MFAVerifyRequest struct {
	Passcode string `json:"passcode"`
	MFAType  string `json:"mfaType"`
	// Secret and CountryCode are in Lerian's body and accepted for its
	// clients, and ignored: accessd keeps the seed it generated and never
	// takes one from a client, and sends SMS to the number on the user.
	Secret      string `json:"secret,omitempty"`
	CountryCode string `json:"countryCode,omitempty"`
}

// MFAVerified answers MFAVerifyRequest.
type MFAVerified struct {
	Verified bool `json:"verified"`
}

// MFAEnableRequest turns a verified factor on. Passcode is accessd's
// addition: enabling needs a fresh code, so a setup nobody completed
// cannot lock its user out.
type MFAEnableRequest struct {
	MFAType      string `json:"mfaType"`
	Passcode     string `json:"passcode,omitempty"`
	RecoveryCode string `json:"recoveryCode,omitempty"`
	// Secret is in Lerian's body; accepted and ignored (see MFAVerifyRequest).
	Secret string `json:"secret,omitempty"`
}

// MFAEnabled answers MFAEnableRequest.
type MFAEnabled struct {
	Enabled bool `json:"enabled"`
}

// MFAPreferredRequest sets the factor offered first.
type MFAPreferredRequest struct {
	MFAType string `json:"mfaType"`
	// Secret is in Lerian's body; accepted and ignored (see MFAVerifyRequest).
	Secret string `json:"secret,omitempty"`
}

// MFAPreferred answers MFAPreferredRequest.
type MFAPreferred struct {
	PreferredType string `json:"preferredType"`
}

// Permission is one allow rule; "*" is a wildcard on Resource and Action,
// and an empty Product matches any product.
type Permission struct {
	Product  string `json:"product,omitempty"`
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// Group is a named set of permissions with members.
type Group struct {
	ID          string       `json:"id"` // the name, as Lerian's clients expect an id
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions"`
	TenantID    string       `json:"tenantId,omitempty"`
	TenantSlug  string       `json:"tenantSlug,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	UpdatedAt   time.Time    `json:"updatedAt"`
	// Users are the usernames of the group's user members, as Lerian's
	// GroupResponse lists them (applications are in GET …/members).
	Users []string `json:"users"`
}

// CreateGroupRequest makes an empty group. TenantID and TenantSlug are
// accepted on the admin socket only.
type CreateGroupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
	TenantSlug  string `json:"tenantSlug,omitempty"`
}

// TenantRequest sets the tenant of a group or application on the admin
// socket (PUT …/tenant); an empty TenantID takes it out of any tenant.
type TenantRequest struct {
	TenantID   string `json:"tenantId"`
	TenantSlug string `json:"tenantSlug,omitempty"`
}

// Member kinds.
const (
	MemberUser = "user"
	MemberApp  = "app"
)

// Member is one member of a group.
type Member struct {
	Kind string `json:"kind"` // MemberUser or MemberApp
	ID   string `json:"id"`
	Name string `json:"name"` // username or clientId
}

// MemberRequest adds a member: "user:<id|username>", "app:<id|clientId>"
// or a bare name (user first, then application).
type MemberRequest struct {
	Member string `json:"member"`
}

// Application is a machine-to-machine client as the API shows it: never
// its secret.
type Application struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	ClientID    string    `json:"clientId"`
	Groups      []string  `json:"groups"`
	CertSPKI    string    `json:"certSpki,omitempty"` // hex SHA-256 of the SubjectPublicKeyInfo
	CertSubject string    `json:"certSubject,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt,omitzero"`
	Secrets     []Secret  `json:"secrets"`
	TenantID    string    `json:"tenantId,omitempty"`
	TenantSlug  string    `json:"tenantSlug,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	LastUsedAt  time.Time `json:"lastUsedAt,omitzero"`
}

// Secret describes one live client secret: its age and end, not its value.
type Secret struct {
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// CreateApplicationRequest is Lerian's body plus accessd's bindings.
// ExpiresIn is a Go duration ("720h"); empty means no expiry.
type CreateApplicationRequest struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	CertSPKI    string   `json:"certSpki,omitempty"`
	CertSubject string   `json:"certSubject,omitempty"`
	ExpiresIn   string   `json:"expiresIn,omitempty"`
	// TenantID and TenantSlug: admin socket only.
	TenantID   string `json:"tenantId,omitempty"`
	TenantSlug string `json:"tenantSlug,omitempty"`
}

// CreatedApplication is Lerian's create answer; ClientSecret is shown
// once and is not retrievable afterwards.
type CreatedApplication struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Description  string    `json:"description,omitempty"`
	ClientID     string    `json:"clientId"`
	ClientSecret string    `json:"clientSecret"`
	Groups       []string  `json:"groups"`
	CreatedAt    time.Time `json:"createdAt"`
}

// RotateRequest rotates an application's secret; Grace (a Go duration,
// default "24h") is how long the previous secret keeps working.
type RotateRequest struct {
	Grace string `json:"grace,omitempty"`
}

// RotatedSecret is the new secret, shown once, and when the previous one
// stops working.
type RotatedSecret struct {
	ClientID          string    `json:"clientId"`
	ClientSecret      string    `json:"clientSecret"`
	PreviousExpiresAt time.Time `json:"previousExpiresAt,omitzero"`
}

// ApplyResult lists what an apply changed (or, with dryRun, would).
type ApplyResult struct {
	DryRun  bool     `json:"dryRun"`
	Changes []string `json:"changes"`
}

// AuditEntry is one audit record as listed.
type AuditEntry struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Type    string            `json:"type"`
	Actor   string            `json:"actor"`
	Target  string            `json:"target,omitempty"`
	Result  string            `json:"result"`
	Source  string            `json:"source,omitempty"`
	Detail  map[string]string `json:"detail,omitempty"`
	Hash    string            `json:"hash"`
	PrevHex string            `json:"prevHash,omitempty"`
}

// AuditVerify is the chain check's verdict. Head is the hash of the last
// entry, for the operator to record elsewhere as a checkpoint. Entries
// is the chain's length, archived entries included; Checkpoint, present
// once retention has archived entries, is where the check started.
type AuditVerify struct {
	OK          bool             `json:"ok"`
	Entries     uint64           `json:"entries"`
	Head        string           `json:"head"`
	Checkpoint  *AuditCheckpoint `json:"checkpoint,omitempty"`
	FirstBroken uint64           `json:"firstBroken,omitempty"`
	Problem     string           `json:"problem,omitempty"`
}

// AuditCheckpoint is where the audit chain in the store starts after
// retention: the last archived entry (Seq, and Hash, which the next
// entry follows), when it was archived, and the archive file holding
// entries FirstSeq to Seq, by name (in <data>/audit-archive/) and
// SHA-256, so that the archive can be checked on its own.
type AuditCheckpoint struct {
	Seq           uint64    `json:"seq"`
	Hash          string    `json:"hash"`
	Time          time.Time `json:"time"`
	Archive       string    `json:"archive"`
	ArchiveSHA256 string    `json:"archiveSha256"`
	FirstSeq      uint64    `json:"firstSeq"`
	Entries       uint64    `json:"entries"`
}

// Review is the access review.
type Review struct {
	GeneratedAt  time.Time       `json:"generatedAt"`
	Users        []ReviewSubject `json:"users"`
	Applications []ReviewSubject `json:"applications"`
	// Links lists, per application, which products it may act on and how.
	Links []M2MLink `json:"links"`
}

// ReviewSubject is one user or application in the review.
type ReviewSubject struct {
	Kind          string       `json:"kind"` // "user" or "app"
	ID            string       `json:"id"`
	Name          string       `json:"name"`
	Groups        []string     `json:"groups"`
	Permissions   []Permission `json:"permissions"`
	CredentialAge string       `json:"credentialAge"`
	LastUsed      time.Time    `json:"lastUsed,omitzero"`
	Flags         []string     `json:"flags"`
}

// Review flags.
const (
	FlagStaleCredential = "stale-credential"
	FlagUnused          = "unused-account"
	FlagAdminNoMFA      = "admin-without-mfa"
	// FlagEmailShared: the address is shared with another account, so
	// this one signs in by username only until an admin resolves it.
	FlagEmailShared     = "email-shared"
	FlagSecretTooOld    = "secret-past-rotation-policy"
	FlagAppNoGroups     = "app-without-groups"
	FlagAppInAdminGroup = "app-in-admin-group"
	FlagDisabled        = "disabled"
	// FlagLookAlike: a user whose username has the form of a record ID or
	// a client ID, or is an application's ID, client ID or name, or an
	// application whose name or client ID is a username. New records
	// cannot be named so; older ones are flagged, not renamed: rename or
	// remove one of the pair, and name members user:X or app:X meanwhile.
	FlagLookAlike = "look-alike"
)

// M2MLink is one direction of machine-to-machine access: the application
// may do Actions on Product's resources.
type M2MLink struct {
	ClientID string   `json:"clientId"`
	Product  string   `json:"product"` // "*" for any product
	Actions  []string `json:"actions"`
}

// Provider categories, as Lerian names them.
const (
	ProviderEmail = "Email"
	ProviderSMS   = "SMS"
)

// Provider types: "smtp" (STARTTLS) and "smtps" (implicit TLS) for
// Email; "http" (JSON body), "http-form" (form body) and "twilio" (the
// form preset for Twilio's Messages API) for SMS.
const (
	ProviderSMTP     = "smtp"
	ProviderSMTPS    = "smtps"
	ProviderHTTP     = "http"
	ProviderHTTPForm = "http-form"
	ProviderTwilio   = "twilio"
)

// Provider is a delivery provider for e-mail or SMS codes as the API
// shows it: never its secret, only whether one is set.
type Provider struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Category        string    `json:"category"`
	Type            string    `json:"type"`
	Host            string    `json:"host,omitempty"`
	Port            int       `json:"port,omitempty"`
	ClientID        string    `json:"clientId,omitempty"`
	ClientSecretSet bool      `json:"clientSecretSet"`
	DisableSSL      bool      `json:"disableSsl"`
	From            string    `json:"from,omitempty"`
	CAPEM           string    `json:"caPem,omitempty"`
	URL             string    `json:"url,omitempty"`
	Template        string    `json:"template,omitempty"`
	AuthHeader      string    `json:"authHeader,omitempty"`
	Default         bool      `json:"default"` // delivers its category's codes unless an application has its own default
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// CreateProviderRequest is Lerian's provider body plus accessd's fields:
// from (the sender), caPem (the relay's or gateway's CA), url, template
// and authHeader (for an SMS gateway). ClientSecret is sealed and never
// returned.
type CreateProviderRequest struct {
	Name         string `json:"name"`
	Category     string `json:"category"`
	Type         string `json:"type,omitempty"`
	Host         string `json:"host,omitempty"`
	Port         int    `json:"port,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	DisableSSL   bool   `json:"disableSsl,omitempty"`
	From         string `json:"from,omitempty"`
	CAPEM        string `json:"caPem,omitempty"`
	URL          string `json:"url,omitempty"`
	Template     string `json:"template,omitempty"`
	AuthHeader   string `json:"authHeader,omitempty"`
}

// UpdateProviderRequest changes the fields that are set; name and
// category stay. An empty ClientSecret removes the secret.
type UpdateProviderRequest struct {
	Type         *string `json:"type,omitempty"`
	Host         *string `json:"host,omitempty"`
	Port         *int    `json:"port,omitempty"`
	ClientID     *string `json:"clientId,omitempty"`
	ClientSecret *string `json:"clientSecret,omitempty"`
	DisableSSL   *bool   `json:"disableSsl,omitempty"`
	From         *string `json:"from,omitempty"`
	CAPEM        *string `json:"caPem,omitempty"`
	URL          *string `json:"url,omitempty"`
	Template     *string `json:"template,omitempty"`
	AuthHeader   *string `json:"authHeader,omitempty"`
}

// ProviderTestRequest sends a test message to an address or number.
type ProviderTestRequest struct {
	To string `json:"to"`
}

// ProviderTestResult is the outcome of a test send: Answer "delivered",
// or Error a fixed class of failure ("connection refused", "rejected by
// provider (status 500)", …), never the relay's or gateway's own words.
type ProviderTestResult struct {
	Provider  string `json:"provider"`
	Delivered bool   `json:"delivered"`
	Answer    string `json:"answer,omitempty"`
	Error     string `json:"error,omitempty"`
}

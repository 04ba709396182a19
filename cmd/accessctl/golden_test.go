package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store/storetest/testkit"
)

// fakeAdmin is the admin API on a real Unix socket: it records every
// request and answers each with the canned status and body of the case
// being run.
type fakeAdmin struct {
	sock string

	mu     sync.Mutex
	reqs   []recorded
	status int
	body   []byte
	link   string // a Link header for every answer, when set
}

// recorded is one request as accessctl sent it.
type recorded struct {
	Method, Path, Query, ContentType, Body string
}

func (r recorded) line() string {
	s := r.Method + " " + r.Path
	if r.Query != "" {
		s += "?" + r.Query
	}
	return s
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	t.Helper()
	f := &fakeAdmin{sock: filepath.Join(t.TempDir(), "admin.sock")}
	l, err := net.Listen("unix", f.sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
	w.Header().Set("Content-Type", "application/json")
	if f.link != "" {
		w.Header().Set("Link", f.link)
	}
	w.WriteHeader(f.status)
	w.Write(f.body)
}

// answer sets what the next requests get: v as JSON, or a string as is.
func (f *fakeAdmin) answer(t *testing.T, status int, v any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs, f.status, f.body = nil, status, nil
	switch v := v.(type) {
	case nil:
	case string:
		f.body = []byte(v)
	default:
		b, err := json.Marshal(v)
		require.NoError(t, err)
		f.body = b
	}
}

func (f *fakeAdmin) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// Canned records, in api types.
var (
	t0    = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	t1    = time.Date(2026, 11, 2, 10, 30, 0, 0, time.UTC)
	alice = api.User{ID: "u-1", Username: "alice", FirstName: "Alice", LastName: "Liddell", Email: "alice@example.com",
		Groups: []string{"admin-group"}, Enabled: true, MFA: true, CreatedAt: t0, UpdatedAt: t1}
	bob = api.User{ID: "u-2", Username: "bob", Email: "bob@example.com", Groups: []string{"ops", "dev"},
		Enabled: false, CreatedAt: t0, UpdatedAt: t0, MustChangePassword: true}
	tina = api.User{ID: "u-3", Username: "tina", Email: "tina@example.com", Groups: []string{}, Enabled: true,
		TenantID: "t-1", TenantSlug: "acme", CreatedAt: t0, UpdatedAt: t0}
	ops = api.Group{ID: "ops", Name: "ops", Description: "operators", CreatedAt: t0, UpdatedAt: t1,
		Permissions: []api.Permission{{Resource: "ledger", Action: "get"}, {Product: "midaz", Resource: "*", Action: "post"}}, Users: []string{"bob"}}
	ledgerApp = api.Application{ID: "a-1", Name: "ledger-sync", Description: "nightly sync", ClientID: "c-ledger",
		Groups: []string{"ops"}, CertSubject: "CN=ledger,O=example", ExpiresAt: t0.Add(90 * 24 * time.Hour),
		Secrets:   []api.Secret{{CreatedAt: t0}, {CreatedAt: t0.Add(-48 * time.Hour), ExpiresAt: t1}},
		CreatedAt: t0.Add(-72 * time.Hour), LastUsedAt: t1}
	payApp = api.Application{ID: "a-2", Name: "payments", ClientID: "c-pay", CertSPKI: strings.Repeat("ab", 32),
		Secrets: []api.Secret{{CreatedAt: t0}}, CreatedAt: t0}
	relay = api.Provider{ID: "0b9e2f4c-5d6a-4e7b-8c9d-0e1f2a3b4c5d", Name: "relay", Default: true, Category: "Email", Type: "smtp", Host: "mail.example.internal", Port: 587, ClientID: "accessd",
		ClientSecretSet: true, From: "accessd@example.internal", CreatedAt: t0, UpdatedAt: t0}
	smsProvider = api.Provider{ID: "7f3c1a2b-9d8e-4f6a-b5c4-d3e2f1a0b9c8", Name: "sms", Category: "SMS", Type: "twilio", ClientID: "AC123", From: "+15550000000",
		URL: "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json", Template: "To={{phone}}&From=%2B15550000000&Body={{message}}", CreatedAt: t0, UpdatedAt: t0}
	notFound = api.Error{Code: "AUT-0404", Title: "Not Found", Message: `identity: user "carol": not found`}
)

// secret values the fake mints or the tests feed on stdin; they may appear
// on stdout only where a case says so.
const (
	genPassword  = "gen-Pw-7f3a9c1e55"
	stdinSecret  = "correct-Horse-battery-staple-42"
	clientSecret = "cs_9b2f0e7d1c4a3b5e6f708192a3b4c5d6"
)

// cliCase is one command line, what the fake answers, and the request
// accessctl must send. Each case runs with -o table and -o json, and its
// stdout, stderr and exit status are compared with
// testdata/<name>.<table|json>.golden.
type cliCase struct {
	name     string
	args     []string
	stdin    string
	status   int // of the fake's answer; 200 when 0
	answer   any // api value, or a raw string
	want     string
	wantBody string // JSON compared as JSON, anything else as bytes
	wantType string // Content-Type; application/json when a body is wanted
	secret   string // the one-time secret this case may print
	link     string // the Link header of the fake's answer
}

func goldenCases() []cliCase {
	return []cliCase{
		// status
		{name: "status", args: []string{"status"}, answer: api.Status{Version: "1.2.3", StartedAt: t0, Uptime: "27h30m0s",
			Seal: api.SealStatus{Kind: "device", PCRs: []int{7}, RollbackDetection: "on"}, Store: api.StoreStatus{Path: "/var/lib/accessd/db", LSMBytes: 4096, VlogBytes: 1 << 20},
			Listeners: []api.Listener{{Plane: "data", Address: ":8443"}, {Plane: "admin", Address: "/run/accessd/admin.sock", Activated: true}},
			Lockdown: api.LockdownStatus{Mode: "enforce", Passed: 17, Warnings: 1,
				Findings: []api.LockdownFinding{{Check: "swap", Severity: "medium", Status: "warn", Found: "unencrypted swap"}}}},
			want: "GET /v1/status"},

		// user
		{name: "user-create-generated", args: []string{"user", "create", "--username", "bob", "--email", "bob@example.com", "--first-name", "Bob", "--group", "ops", "--group", "dev"},
			status: 201, answer: api.CreatedUser{User: bob, Password: genPassword}, secret: genPassword,
			want: "POST /v1/users", wantBody: `{"username":"bob","email":"bob@example.com","firstName":"Bob","groups":["ops","dev"]}`},
		{name: "user-create-stdin", args: []string{"user", "create", "--username", "bob", "--email", "bob@example.com", "--password-stdin"},
			stdin: stdinSecret + "\r\nnot read\n", status: 201, answer: api.CreatedUser{User: bob},
			want: "POST /v1/users", wantBody: `{"username":"bob","email":"bob@example.com","password":"` + stdinSecret + `"}`},
		{name: "user-create-empty-stdin", args: []string{"user", "create", "--username", "bob", "--email", "bob@example.com", "--password-stdin"}, stdin: "\n"},
		{name: "user-create-missing-email", args: []string{"user", "create", "--username", "bob"}},
		{name: "user-create-group-missing", args: []string{"user", "create", "--username", "bob", "--email", "b@example.com", "--group", "nope"},
			status: 404, answer: api.Error{Code: "AUT-0404", Title: "Not Found", Message: `identity: group "nope": not found`},
			want: "POST /v1/users", wantBody: `{"username":"bob","email":"b@example.com","groups":["nope"]}`},
		{name: "user-list", args: []string{"user", "list", "--group", "ops", "--status", "enabled", "--page", "2", "--limit", "2"},
			answer: []api.User{alice, bob}, link: `</v1/users?group=ops&limit=2&page=3&status=enabled>; rel="next"`,
			want: "GET /v1/users?group=ops&limit=2&page=2&status=enabled"},
		{name: "user-list-empty", args: []string{"user", "list"}, answer: []api.User{}, want: "GET /v1/users"},
		{name: "user-list-bad-status", args: []string{"user", "list", "--status", "locked"}},
		{name: "user-list-bad-limit", args: []string{"user", "list", "--limit", "0"}},
		{name: "user-list-limit-not-a-number", args: []string{"user", "list", "--limit", "ten"}},
		{name: "user-get", args: []string{"user", "get", "alice"}, answer: alice, want: "GET /v1/users/alice"},
		{name: "user-get-escaped", args: []string{"user", "get", "a/../b c"}, answer: alice, want: "GET /v1/users/a%2F..%2Fb%20c"},
		{name: "user-get-not-found", args: []string{"user", "get", "carol"}, status: 404, answer: notFound, want: "GET /v1/users/carol"},
		{name: "user-get-missing-arg", args: []string{"user", "get"}},
		{name: "user-get-extra-arg", args: []string{"user", "get", "alice", "bob"}},
		{name: "user-update", args: []string{"user", "update", "u-2", "--email", "robert@example.com", "--group", "ops", "--group", "dev", "--last-name", ""},
			answer: bob, want: "PATCH /v1/users/u-2", wantBody: `{"lastName":"","email":"robert@example.com","groups":["ops","dev"]}`},
		{name: "user-update-clear-groups", args: []string{"user", "update", "u-2", "--clear-groups"},
			answer: bob, want: "PATCH /v1/users/u-2", wantBody: `{"groups":[]}`},
		{name: "user-update-nothing", args: []string{"user", "update", "u-2"}},
		{name: "user-update-group-and-clear", args: []string{"user", "update", "u-2", "--group", "ops", "--clear-groups"}},
		{name: "user-create-tenant", args: []string{"user", "create", "--username", "tina", "--email", "tina@example.com", "--tenant", "t-1:acme"},
			status: 201, answer: api.CreatedUser{User: tina, Password: genPassword}, secret: genPassword,
			want: "POST /v1/users", wantBody: `{"username":"tina","email":"tina@example.com","tenantId":"t-1","tenantSlug":"acme"}`},
		{name: "user-update-tenant", args: []string{"user", "update", "tina", "--tenant", "t-2"},
			answer: tina, want: "PATCH /v1/users/tina", wantBody: `{"tenantId":"t-2","tenantSlug":""}`},
		{name: "user-update-no-tenant", args: []string{"user", "update", "tina", "--tenant", ""},
			answer: bob, want: "PATCH /v1/users/tina", wantBody: `{"tenantId":"","tenantSlug":""}`},
		{name: "user-get-tenant", args: []string{"user", "get", "tina"}, answer: tina, want: "GET /v1/users/tina"},
		{name: "group-update-tenant", args: []string{"group", "update", "ops", "--tenant", "t-1:acme"},
			answer: api.Group{ID: "ops", Name: "ops", TenantID: "t-1", TenantSlug: "acme", CreatedAt: t0, UpdatedAt: t1},
			want:   "PUT /v1/groups/ops/tenant", wantBody: `{"tenantId":"t-1","tenantSlug":"acme"}`},
		{name: "group-update-nothing", args: []string{"group", "update", "ops"}},
		{name: "group-create-tenant", args: []string{"group", "create", "t1-ops", "--tenant", "t-1"}, status: 201,
			answer: api.Group{ID: "t1-ops", Name: "t1-ops", TenantID: "t-1", CreatedAt: t0, UpdatedAt: t0},
			want:   "POST /v1/groups", wantBody: `{"name":"t1-ops","tenantId":"t-1"}`},
		{name: "app-update-tenant", args: []string{"app", "update", "c-pay", "--tenant", ""},
			answer: payApp, want: "PUT /v1/applications/c-pay/tenant", wantBody: `{"tenantId":""}`},
		{name: "user-delete", args: []string{"user", "delete", "u-2"}, status: 204, want: "DELETE /v1/users/u-2"},
		{name: "user-disable", args: []string{"user", "disable", "bob"}, answer: bob, want: "POST /v1/users/bob/disable"},
		{name: "user-enable", args: []string{"user", "enable", "alice"}, answer: alice, want: "POST /v1/users/alice/enable"},
		{name: "user-reset-password-generated", args: []string{"user", "reset-password", "bob"},
			answer: api.PasswordReset{Password: genPassword}, secret: genPassword,
			want: "PATCH /v1/users/bob/reset-password", wantBody: `{}`},
		{name: "user-reset-password-stdin", args: []string{"user", "reset-password", "bob", "--password-stdin"}, stdin: stdinSecret,
			status: 204, want: "PATCH /v1/users/bob/reset-password", wantBody: `{"newPassword":"` + stdinSecret + `"}`},
		{name: "user-reset-password-weak", args: []string{"user", "reset-password", "bob", "--password-stdin"}, stdin: "short\n",
			status: 400, answer: api.Error{Code: "AUT-0406", Title: "Password Refused", Message: "identity: password: at least 12 characters"},
			want: "PATCH /v1/users/bob/reset-password", wantBody: `{"newPassword":"short"}`},
		{name: "user-logout", args: []string{"user", "logout", "alice"}, status: 204, want: "POST /v1/users/alice/logout"},
		{name: "user-unknown-verb", args: []string{"user", "lst"}},
		{name: "user-no-verb", args: []string{"user"}},

		// group
		{name: "group-list", args: []string{"group", "list"}, answer: []api.Group{ops, {ID: "empty", Name: "empty", CreatedAt: t0, Users: []string{}}}, want: "GET /v1/groups"},
		{name: "group-list-empty", args: []string{"group", "list"}, answer: []api.Group{}, want: "GET /v1/groups"},
		{name: "group-get", args: []string{"group", "get", "ops"}, answer: ops, want: "GET /v1/groups/ops"},
		{name: "group-create", args: []string{"group", "create", "ops", "--description", "operators"}, status: 201,
			answer: api.Group{ID: "ops", Name: "ops", Description: "operators", CreatedAt: t0, UpdatedAt: t0, Users: []string{}},
			want:   "POST /v1/groups", wantBody: `{"name":"ops","description":"operators"}`},
		{name: "group-create-exists", args: []string{"group", "create", "ops"}, status: 409,
			answer: api.Error{Code: "AUT-0409", Title: "Already Exists", Message: `identity: group "ops": already exists`},
			want:   "POST /v1/groups", wantBody: `{"name":"ops"}`},
		{name: "group-delete", args: []string{"group", "delete", "ops"}, status: 204, want: "DELETE /v1/groups/ops"},
		{name: "group-grant", args: []string{"group", "grant", "ops", "--resource", "ledger", "--action", "get", "--product", "midaz"}, answer: ops,
			want: "POST /v1/groups/ops/permissions", wantBody: `{"product":"midaz","resource":"ledger","action":"get"}`},
		{name: "group-grant-missing-action", args: []string{"group", "grant", "ops", "--resource", "ledger"}},
		{name: "group-revoke", args: []string{"group", "revoke", "ops", "--resource", "*", "--action", "post"}, answer: ops,
			want: "DELETE /v1/groups/ops/permissions", wantBody: `{"resource":"*","action":"post"}`},
		{name: "group-add-member", args: []string{"group", "add-member", "ops", "user:bob"}, answer: ops,
			want: "POST /v1/groups/ops/members", wantBody: `{"member":"user:bob"}`},
		{name: "group-add-member-empty-name", args: []string{"group", "add-member", "ops", "app:"}},
		{name: "group-remove-member", args: []string{"group", "remove-member", "ops", "app:c-ledger"}, status: 204,
			want: "DELETE /v1/groups/ops/members/app:c-ledger"},
		{name: "group-members", args: []string{"group", "members", "ops"},
			answer: []api.Member{{Kind: "user", ID: "u-2", Name: "bob"}, {Kind: "app", ID: "a-1", Name: "c-ledger"}}, want: "GET /v1/groups/ops/members"},
		{name: "group-members-none", args: []string{"group", "members", "ops"}, answer: []api.Member{}, want: "GET /v1/groups/ops/members"},

		// app
		{name: "app-create", args: []string{"app", "create", "--name", "ledger-sync", "--description", "nightly sync", "--group", "ops",
			"--cert-spki", strings.ToUpper(strings.Repeat("ab:", 31) + "ab"), "--expires-in", "90d"},
			status: 201, answer: api.CreatedApplication{ID: "a-1", Name: "ledger-sync", Description: "nightly sync", ClientID: "c-ledger",
				ClientSecret: clientSecret, Groups: []string{"ops"}, CreatedAt: t0}, secret: clientSecret,
			want: "POST /v1/applications", wantBody: `{"name":"ledger-sync","description":"nightly sync","groups":["ops"],"certSpki":"` + strings.Repeat("ab", 32) + `","expiresIn":"2160h0m0s"}`},
		{name: "app-create-spki-and-subject", args: []string{"app", "create", "--name", "x", "--cert-spki", strings.Repeat("ab", 32), "--cert-subject", "CN=x"}},
		{name: "app-create-bad-spki", args: []string{"app", "create", "--name", "x", "--cert-spki", "abcd"}},
		{name: "app-create-bad-expiry", args: []string{"app", "create", "--name", "x", "--expires-in", "soon"}},
		{name: "app-create-no-name", args: []string{"app", "create"}},
		{name: "app-list", args: []string{"app", "list"}, answer: []api.Application{ledgerApp, payApp}, want: "GET /v1/applications"},
		{name: "app-get", args: []string{"app", "get", "c-ledger"}, answer: ledgerApp, want: "GET /v1/applications/c-ledger"},
		{name: "app-rotate", args: []string{"app", "rotate", "a-1", "--grace", "48h"},
			answer: api.RotatedSecret{ClientID: "c-ledger", ClientSecret: clientSecret, PreviousExpiresAt: t1.Add(48 * time.Hour)}, secret: clientSecret,
			want: "POST /v1/applications/a-1/rotate", wantBody: `{"grace":"48h0m0s"}`},
		{name: "app-rotate-bad-grace", args: []string{"app", "rotate", "a-1", "--grace", "-1h"}},
		{name: "app-delete", args: []string{"app", "delete", "a-1"}, status: 204, want: "DELETE /v1/applications/a-1"},
		{name: "app-logout", args: []string{"app", "logout", "a-1"}, status: 204, want: "POST /v1/applications/a-1/logout"},

		// provider
		{name: "provider-create-email", args: []string{"provider", "create", "--name", "relay", "--category", "Email", "--host", "mail.example.internal",
			"--client-id", "accessd", "--client-secret-stdin", "--from", "accessd@example.internal"},
			stdin: stdinSecret + "\n", status: 201, answer: relay,
			want: "POST /v1/providers", wantBody: `{"name":"relay","category":"Email","host":"mail.example.internal","clientId":"accessd","clientSecret":"` + stdinSecret + `","from":"accessd@example.internal"}`},
		{name: "provider-create-sms", args: []string{"provider", "create", "--name", "sms", "--category", "SMS", "--type", "twilio", "--client-id", "AC123", "--from", "+15550000000"},
			status: 201, answer: smsProvider,
			want: "POST /v1/providers", wantBody: `{"name":"sms","category":"SMS","type":"twilio","clientId":"AC123","from":"+15550000000"}`},
		{name: "provider-create-no-category", args: []string{"provider", "create", "--name", "x"}},
		{name: "provider-create-empty-stdin", args: []string{"provider", "create", "--name", "x", "--category", "Email", "--client-secret-stdin"}},
		{name: "provider-list", args: []string{"provider", "list"}, answer: []api.Provider{relay, smsProvider}, want: "GET /v1/providers"},
		{name: "provider-get", args: []string{"provider", "get", "relay"}, answer: relay, want: "GET /v1/providers/relay"},
		{name: "provider-update", args: []string{"provider", "update", "relay", "--port", "2525", "--disable-ssl=false", "--clear-client-secret"}, answer: relay,
			want: "PATCH /v1/providers/relay", wantBody: `{"port":2525,"disableSsl":false,"clientSecret":""}`},
		{name: "provider-update-nothing", args: []string{"provider", "update", "relay"}},
		{name: "provider-delete", args: []string{"provider", "delete", "relay"}, status: 204, want: "DELETE /v1/providers/relay"},
		{name: "provider-test", args: []string{"provider", "test", "relay", "--to", "alice@example.com"},
			answer: api.ProviderTestResult{Provider: "relay", Delivered: true, Answer: "250 2.0.0 queued as 4F2A"},
			want:   "POST /v1/providers/relay/test", wantBody: `{"to":"alice@example.com"}`},
		{name: "app-provider-list", args: []string{"app", "provider", "list", "console"}, want: "GET /v1/applications/console/providers",
			answer: []api.AppProvider{{ProviderID: relay.ID, Name: "relay", Category: "Email", Type: "smtp", CanSignIn: true, Default: true}}},
		{name: "app-provider-list-empty", args: []string{"app", "provider", "list", "console"}, want: "GET /v1/applications/console/providers", answer: []api.AppProvider{}},
		{name: "app-provider-link", args: []string{"app", "provider", "link", "console", "relay", "--can-sign-in"}, status: 201, want: "POST /v1/applications/console/providers",
			wantBody: `{"providerId":"relay","canSignIn":true}`, answer: api.AppProvider{ProviderID: relay.ID, Name: "relay", Category: "Email", Type: "smtp", CanSignIn: true}},
		{name: "app-provider-unlink", args: []string{"app", "provider", "unlink", "console", "relay"}, status: 204, want: "DELETE /v1/applications/console/providers/relay"},
		{name: "app-provider-set-default", args: []string{"app", "provider", "set-default", "console", "relay"}, want: "PATCH /v1/applications/console/providers/relay/default",
			answer: api.AppProvider{ProviderID: relay.ID, Name: "relay", Category: "Email", Type: "smtp", Default: true}},
		{name: "provider-set-default", args: []string{"provider", "set-default", "relay"}, answer: relay, want: "POST /v1/providers/relay/default"},
		{name: "provider-set-default-unknown", args: []string{"provider", "set-default", "nope"}, status: 404,
			answer: api.Error{Code: "AUT-0404", Title: "Not Found", Message: `identity: provider "nope": not found`}, want: "POST /v1/providers/nope/default"},
		{name: "provider-test-refused", args: []string{"provider", "test", "relay", "--to", "alice@example.com"},
			answer: api.ProviderTestResult{Provider: "relay", Error: `delivery: not delivered: provider "relay": starttls: smtp: server doesn't support STARTTLS`},
			want:   "POST /v1/providers/relay/test", wantBody: `{"to":"alice@example.com"}`},
		{name: "user-update-phone", args: []string{"user", "update", "bob", "--phone-number", "+4915112345678"}, answer: bob,
			want: "PATCH /v1/users/bob", wantBody: `{"phoneNumber":"+4915112345678"}`},

		// apply
		{name: "apply-dry-run", args: []string{"apply", "-f", "testdata/policy.toml", "--dry-run"},
			answer: api.ApplyResult{DryRun: true, Changes: []string{"create group payments-writer", "grant payments-writer: post payments", "add app:c-pay to payments-writer"}},
			want:   "POST /v1/apply?dryRun=true", wantBody: "@testdata/policy.toml", wantType: "application/toml"},
		{name: "apply-unchanged", args: []string{"apply", "--file", "-"}, stdin: "[groups.ops]\n",
			answer: api.ApplyResult{}, want: "POST /v1/apply?dryRun=false", wantBody: "[groups.ops]\n", wantType: "application/toml"},
		{name: "apply-missing-file", args: []string{"apply", "-f", "testdata/no-such-policy.toml"}},
		{name: "apply-no-file-flag", args: []string{"apply"}},
		{name: "apply-bad-policy", args: []string{"apply", "-f", "testdata/policy.toml"}, status: 400,
			answer: api.Error{Code: "AUT-0003", Title: "Unexpected Fields in the Request", Message: "policy: line 3: unknown key \"grnat\""},
			want:   "POST /v1/apply?dryRun=false", wantBody: "@testdata/policy.toml", wantType: "application/toml"},

		// import
		{name: "import-dry-run", args: []string{"import", "-f", "testdata/lerian-export.json", "--dry-run"},
			answer: api.ImportResult{DryRun: true, Records: importRecords("create")},
			want:   "POST /v1/import?dryRun=true", wantBody: "@testdata/lerian-export.json"},
		{name: "import", args: []string{"import", "-f", "testdata/lerian-export.json"},
			answer: api.ImportResult{Records: importRecords("create"), Passwords: []api.ImportedPassword{{Username: "johndoe", Password: genPassword}}},
			want:   "POST /v1/import?dryRun=false", wantBody: "@testdata/lerian-export.json", secret: genPassword},
		{name: "import-unchanged", args: []string{"import", "--file", "-"}, stdin: `{"groups":[]}`,
			answer: api.ImportResult{Records: importRecords("unchanged")}, want: "POST /v1/import?dryRun=false", wantBody: `{"groups":[]}`},
		{name: "import-conflict", args: []string{"import", "-f", "testdata/lerian-export.json"}, status: 409,
			answer: api.Error{Code: "AUT-0410", Title: "Conflicting Change", Message: "identity: import: conflicting change: 1 record(s) exist in accessd with other content, nothing was imported (application 019c96a0-6a10-7abc-d1e2-8c9d0e1f2a3b: exists in accessd with another clientSecret (rotated in accessd since?); change it in accessd or in the file so they agree); `accessctl import --dry-run -f FILE` lists them all"},
			want:   "POST /v1/import?dryRun=false", wantBody: "@testdata/lerian-export.json"},
		{name: "import-no-file-flag", args: []string{"import"}},

		// audit
		{name: "audit-list", args: []string{"audit", "list", "--since", "24h", "--type", "user.create", "--limit", "10"},
			answer: []api.AuditEntry{
				{Seq: 41, Time: t1, Type: "user.create", Actor: "uid:0", Target: "user:bob", Result: "ok", Source: "admin-socket", Detail: map[string]string{"groups": "ops,dev", "by": "root"}, Hash: "aa11", PrevHex: "ff00"},
				{Seq: 42, Time: t1.Add(time.Minute), Type: "user.create", Actor: "uid:1000", Target: "user:carol", Result: "denied", Hash: "bb22", PrevHex: "aa11"},
			},
			want: "GET /v1/audit?limit=10&since=2026-11-01T12%3A00%3A00Z&type=user.create"},
		{name: "audit-list-rfc3339", args: []string{"audit", "list", "--since", "2026-10-01T00:00:00+02:00"}, answer: []api.AuditEntry{},
			want: "GET /v1/audit?since=2026-10-01T00%3A00%3A00%2B02%3A00"},
		{name: "audit-list-bad-since", args: []string{"audit", "list", "--since", "yesterday"}},
		{name: "audit-verify", args: []string{"audit", "verify"}, answer: api.AuditVerify{OK: true, Entries: 42, Head: "bb22cc33"}, want: "POST /v1/audit/verify"},
		{name: "audit-verify-checkpoint", args: []string{"audit", "verify"}, answer: api.AuditVerify{OK: true, Entries: 730, Head: "bb22cc33",
			Checkpoint: &api.AuditCheckpoint{Seq: 329, Hash: "9f8e7d6c", Time: t1, Archive: "audit-00000000000000000001.jsonl", ArchiveSHA256: "5a4b3c2d", FirstSeq: 1, Entries: 329}},
			want: "POST /v1/audit/verify"},
		{name: "audit-verify-checkpoint-broken", args: []string{"audit", "verify"}, answer: api.AuditVerify{Entries: 329, Head: "bb22cc33",
			Checkpoint:  &api.AuditCheckpoint{Seq: 329, Hash: "9f8e7d6c", Time: t1, Archive: "audit-00000000000000000001.jsonl", ArchiveSHA256: "5a4b3c2d", FirstSeq: 1, Entries: 329},
			FirstBroken: 330, Problem: "entry 330 does not follow the checkpoint"},
			want: "POST /v1/audit/verify"},
		{name: "audit-verify-broken", args: []string{"audit", "verify"},
			answer: api.AuditVerify{Entries: 42, Head: "bb22cc33", FirstBroken: 17, Problem: "hash does not match the entry"}, want: "POST /v1/audit/verify"},

		// review
		{name: "review", args: []string{"review", "--stale", "90d"},
			answer: api.Review{GeneratedAt: t1,
				Users: []api.ReviewSubject{
					{Kind: "user", ID: "u-1", Name: "alice", Groups: []string{"admin-group"}, Permissions: []api.Permission{{Resource: "*", Action: "*"}}, CredentialAge: "120d", LastUsed: t1},
					{Kind: "user", ID: "u-2", Name: "bob", Groups: []string{"ops"}, CredentialAge: "400d", Flags: []string{api.FlagStaleCredential, api.FlagUnused, api.FlagDisabled}},
				},
				Applications: []api.ReviewSubject{{Kind: "app", ID: "a-2", Name: "c-pay", CredentialAge: "95d", LastUsed: t0, Flags: []string{api.FlagSecretTooOld, api.FlagAppNoGroups}}},
				Links:        []api.M2MLink{{ClientID: "c-ledger", Product: "midaz", Actions: []string{"get", "post"}}, {ClientID: "c-pay", Product: "*", Actions: []string{"get"}}}},
			want: "GET /v1/review?stale=2160h0m0s"},
		{name: "review-empty", args: []string{"review"}, answer: api.Review{GeneratedAt: t1}, want: "GET /v1/review"},
		{name: "review-bad-stale", args: []string{"review", "--stale", "0s"}},

		// keys and backup
		{name: "keys-list", args: []string{"keys", "list"}, answer: goldenKeys, want: "GET /v1/keys"},
		{name: "keys-list-json", args: []string{"-o", "json", "keys", "list"}, answer: goldenKeys, want: "GET /v1/keys"},
		{name: "keys-rotate", args: []string{"keys", "rotate"}, answer: goldenKeys, want: "POST /v1/keys/rotate"},
		{name: "keys-rotate-fields", args: []string{"keys", "rotate-fields"},
			answer: api.FieldRotation{Term: 3, Retired: 2, Resealed: 41, Records: 1200}, want: "POST /v1/keys/rotate-fields"},
		{name: "keys-rotate-fields-resumed", args: []string{"keys", "rotate-fields"},
			answer: api.FieldRotation{Term: 2, Retired: 1, Resealed: 7, Records: 30, Resumed: true}, want: "POST /v1/keys/rotate-fields"},
		{name: "keys-rotate-fields-failed", args: []string{"keys", "rotate-fields"}, status: 500,
			answer: api.Error{Code: "AUT-0500", Title: "Internal Error", Message: "internal error; the daemon's log has the details"}, want: "POST /v1/keys/rotate-fields"},
		{name: "backup-extra-arg", args: []string{"backup", "now"}},
		{name: "backup-exists", args: []string{"backup", "-f", "testdata/policy.toml"}},

		// errors that every command shares
		{name: "forbidden", args: []string{"user", "list"}, status: 403,
			answer: api.Error{Code: "AUT-0403", Title: "Forbidden", Message: "uid 1000 is not in the accessd-admin group"}, want: "GET /v1/users"},
		{name: "server-error", args: []string{"group", "list"}, status: 500,
			answer: api.Error{Code: "AUT-0500", Title: "Internal Error", Message: "internal error; the daemon's log has the details"}, want: "GET /v1/groups"},
		{name: "unavailable", args: []string{"app", "list"}, status: 503,
			answer: api.Error{Code: "AUT-0503", Title: "Service Unavailable", Message: "store: free space below 512MiB"}, want: "GET /v1/applications"},
		{name: "route-unknown", args: []string{"review"}, status: 404, answer: "404 page not found\n", want: "GET /v1/review"},
		{name: "bad-gateway-html", args: []string{"status"}, status: 502, answer: "<html>" + strings.Repeat("x", 300) + "</html>", want: "GET /v1/status"},
		{name: "socket-missing", args: []string{"--socket", "$TMP/missing.sock", "user", "list"}},
		{name: "unknown-flag", args: []string{"user", "list", "--bogus"}},
		{name: "unknown-command", args: []string{"usr", "list"}},
		{name: "no-command", args: []string{}},
		{name: "bad-output", args: []string{"-o", "yaml", "group", "list"}},
		{name: "help", args: []string{"--help"}},
		{name: "user-create-help", args: []string{"user", "create", "--help"}},
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, tc := range goldenCases() {
		require.False(t, names[tc.name], "duplicate case %s", tc.name)
		names[tc.name] = true
		for _, mode := range []string{"table", "json"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				fake := newFakeAdmin(t) // one per case: the cases run at once
				tmp := filepath.Dir(fake.sock)
				status := tc.status
				if status == 0 {
					status = http.StatusOK
				}
				fake.answer(t, status, tc.answer)
				fake.mu.Lock()
				fake.link = tc.link
				fake.mu.Unlock()
				args := []string{"-o", mode}
				for _, a := range tc.args {
					args = append(args, strings.ReplaceAll(a, "$TMP", tmp))
				}
				var out, errb bytes.Buffer
				e := testEnv(tc.stdin, &out, &errb)
				e.getenv = func(k string) string {
					if k == "ACCESSD_SOCKET" {
						return fake.sock
					}
					return ""
				}
				code := run(args, e)

				// The request accessctl sent.
				reqs := fake.requests()
				if tc.want == "" {
					require.Empty(t, reqs, "refused before calling the daemon")
				} else {
					require.Len(t, reqs, 1)
					require.Equal(t, tc.want, reqs[0].line())
					checkBody(t, tc, reqs[0])
				}

				// What it printed.
				stdout := strings.ReplaceAll(out.String(), tmp, "$TMP")
				stderr := strings.ReplaceAll(errb.String(), tmp, "$TMP")
				if code != exitOK && tc.name != "audit-verify-broken" && tc.name != "audit-verify-checkpoint-broken" {
					require.Empty(t, stdout, "a failed command prints nothing on stdout")
				}
				if mode == "json" && stdout != "" && !slices.Contains(tc.args, "--help") {
					dec := json.NewDecoder(strings.NewReader(stdout))
					var doc any
					require.NoError(t, dec.Decode(&doc), "stdout is a JSON document")
					require.False(t, dec.More(), "stdout is exactly one JSON document")
				}
				for _, s := range []string{genPassword, stdinSecret, clientSecret} {
					if s != tc.secret {
						require.NotContains(t, stdout+stderr, s, "a secret not minted by this command is never printed")
					}
				}
				if tc.secret != "" && code == exitOK {
					require.Contains(t, stdout, tc.secret)
					require.Contains(t, stdout+stderr, "shown once")
				}
				got := fmt.Sprintf("$ accessctl %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s", shellJoin(args), code, stdout, stderr)
				got = strings.ReplaceAll(got, tmp, "$TMP")
				testkit.Golden(t, tc.name+"."+mode+".golden", []byte(got))
			})
		}
	}
}

// checkBody compares the body (and its type) accessctl sent with the case.
func checkBody(t *testing.T, tc cliCase, r recorded) {
	t.Helper()
	want := tc.wantBody
	if f, ok := strings.CutPrefix(want, "@"); ok {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		want = string(b)
	}
	switch {
	case want == "":
		require.Empty(t, r.Body, "no request body")
	case tc.wantType != "":
		require.Equal(t, tc.wantType, r.ContentType)
		require.Equal(t, want, r.Body)
	default:
		require.Equal(t, "application/json", r.ContentType)
		require.JSONEq(t, want, r.Body)
	}
}

// shellJoin writes args as a shell would need them, for the golden files.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"*$\\|&;<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

var goldenKeys = []api.SigningKey{
	{KID: "4dUxshdHQiHh24QW", Alg: "ES256", State: "retired", CreatedAt: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC),
		ActivatesAt: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC), RetiredAt: time.Date(2026, 10, 31, 8, 0, 0, 0, time.UTC),
		PublishedUntil: time.Date(2026, 10, 31, 9, 5, 0, 0, time.UTC)},
	{KID: "qhycLrdsTnvtk5KU", Alg: "ES256", State: "active", CreatedAt: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC),
		ActivatesAt: time.Date(2026, 10, 31, 8, 0, 0, 0, time.UTC)},
	{KID: "Vv1x2pPq9a8b7c6d", Alg: "ES256", State: "next", CreatedAt: time.Date(2026, 10, 31, 8, 0, 0, 0, time.UTC),
		ActivatesAt: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)},
}

// importRecords is the plan of testdata/lerian-export.json with the user
// and the application in state action.
func importRecords(action string) []api.ImportRecord {
	return []api.ImportRecord{
		{Kind: "group", Name: "midaz-viewer-group", ID: "midaz-viewer-group", Action: "unchanged", Detail: "exists in accessd"},
		{Kind: "user", Name: "johndoe", ID: "019c96a0-0c21-71f9-a487-66a1258278a1", Action: action},
		{Kind: "application", Name: "019c96a0-6a10-7abc-d1e2-8c9d0e1f2a3b", ID: "019c96a0-0c0c-7221-8cf3-13313fb60081", Action: action},
	}
}

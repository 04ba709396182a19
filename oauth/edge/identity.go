package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
)

// Plane is what the Identity routes need to know about the plane they
// are served on.
type Plane struct {
	// Admin is true on the admin socket: the peer check already decided,
	// and the admin-only routes (apply, audit, review) exist.
	Admin bool
	// Authenticate says who is calling: from the peer credentials on the
	// admin socket, from the bearer token on the data plane. An error
	// wrapping api.ErrUnauthorized answers 401.
	Authenticate func(r *http.Request) (change.Actor, error)
	// Allowed decides a data-plane caller's permission on an Identity
	// resource ("users", "groups", "applications", "providers",
	// "reset-password", "update-password") for an action (the HTTP verb, lower case).
	Allowed func(subjectID, resource, action string) bool
	// Audit records the data plane's refusals, stamped with Now (nil:
	// time.Now); Refusals, when set, audits the denied routes instead,
	// the first few of each caller, resource and action a minute in
	// full and the rest in a summary.
	Audit    change.Recorder
	Refusals Refusals
	Now      func() time.Time
	// Review answers the admin-only audit and access-review routes, and
	// Apply the policy route; both are needed when Admin is true.
	Review Reviewer
	Apply  Applier
	// MFA answers a user's second-factor routes (/v1/users/{id}/mfa…):
	// oauth/login's enrolment.
	MFA Enrolment
	Log *slog.Logger
}

// Enrolment is what the second-factor routes ask of oauth/login.
type Enrolment interface {
	MFAStatus(idOrName string) (api.MFAStatus, error)
	MFASetup(ctx context.Context, a change.Actor, idOrName, mfaType string) (api.MFASetup, error)
	MFAVerify(ctx context.Context, a change.Actor, idOrName string, req api.MFAVerifyRequest) (api.MFAVerified, error)
	MFAEnable(ctx context.Context, a change.Actor, idOrName string, req api.MFAEnableRequest) (api.MFAEnabled, error)
	MFADisable(ctx context.Context, a change.Actor, idOrName string) (api.MFAStatus, error)
	MFAPreferred(ctx context.Context, a change.Actor, idOrName, mfaType string) (api.MFAPreferred, error)
}

// Applier is what the admin routes ask of oauth/policy.
type Applier interface {
	Apply(ctx context.Context, a change.Actor, data []byte, dry bool) (api.ApplyResult, error)
}

// Reviewer is what the admin routes ask of oauth/review.
type Reviewer interface {
	AuditList(since time.Time, typ string, limit int) ([]api.AuditEntry, error)
	AuditVerify(ctx context.Context, a change.Actor) (api.AuditVerify, error)
	Review(stale time.Duration) (api.Review, error)
}

type identityRoutes struct {
	svc   *directory.Service
	plane Plane
	m     *http.ServeMux
}

// IdentityRoutes registers the Identity API on mux for one plane.
func IdentityRoutes(mux *http.ServeMux, svc *directory.Service, plane Plane) {
	if plane.Log == nil {
		plane.Log = slog.Default()
	}
	if plane.Now == nil {
		plane.Now = time.Now
	}
	if plane.Refusals == nil {
		plane.Refusals = inFull{audit: plane.Audit, log: plane.Log}
	}
	rt := &identityRoutes{svc: svc, plane: plane, m: mux}
	prov := svc.Providers()
	mfa := plane.MFA
	h := rt.handle
	ctx := func(r *http.Request) context.Context { return r.Context() }
	id := func(r *http.Request) string { return r.PathValue("id") }
	name := func(r *http.Request) string { return r.PathValue("name") }
	h("POST /v1/users", "users", false, rt.createUser)
	h("GET /v1/users", "users", false, rt.listUsers)
	h("GET /v1/users/{id}", "users", true, answer(func(r *http.Request, a change.Actor) (api.User, error) { return svc.Users().GetUserFor(a, id(r)) }))
	h("PATCH /v1/users/{id}", "users", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.UpdateUserRequest) (api.User, error) {
		return svc.Users().UpdateUser(ctx(r), a, id(r), req)
	}))
	h("DELETE /v1/users/{id}", "users", false, noContent(func(r *http.Request, a change.Actor) error { return svc.Users().DeleteUser(ctx(r), a, id(r)) }))
	for _, enabled := range []bool{false, true} {
		path := map[bool]string{false: "POST /v1/users/{id}/disable", true: "POST /v1/users/{id}/enable"}[enabled]
		h(path, "users", false, answer(func(r *http.Request, a change.Actor) (api.User, error) {
			return svc.Users().SetUserEnabled(ctx(r), a, id(r), enabled)
		}))
	}
	h("PATCH /v1/users/{id}/reset-password", "reset-password", false, rt.resetPassword)
	h("PATCH /v1/users/{id}/update-password", "update-password", true, rt.updatePassword)
	h("POST /v1/users/{id}/logout", "users", false, noContent(func(r *http.Request, a change.Actor) error { return svc.Users().Logout(ctx(r), a, id(r)) }))
	// A user's second factor is theirs alone on the data plane (a helpdesk
	// resets MFA on the admin socket): nobody mints another's TOTP seed.
	h("GET /v1/users/{id}/mfa", "", true, answer(func(r *http.Request, a change.Actor) (api.MFAStatus, error) { return mfa.MFAStatus(id(r)) }))
	h("POST /v1/users/{id}/mfa/setup", "", true, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.MFASetupRequest) (api.MFASetup, error) {
		return mfa.MFASetup(ctx(r), a, id(r), req.MFAType)
	}))
	h("POST /v1/users/{id}/mfa/verify", "", true, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.MFAVerifyRequest) (api.MFAVerified, error) {
		return mfa.MFAVerify(ctx(r), a, id(r), req)
	}))
	h("POST /v1/users/{id}/mfa/enable", "", true, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.MFAEnableRequest) (api.MFAEnabled, error) {
		return mfa.MFAEnable(ctx(r), a, id(r), req)
	}))
	h("POST /v1/users/{id}/mfa/disable", "", true, answer(func(r *http.Request, a change.Actor) (api.MFAStatus, error) { return mfa.MFADisable(ctx(r), a, id(r)) }))
	h("PATCH /v1/users/{id}/mfa/preferred", "", true, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.MFAPreferredRequest) (api.MFAPreferred, error) {
		return mfa.MFAPreferred(ctx(r), a, id(r), req.MFAType)
	}))

	h("GET /v1/groups", "groups", false, listed(func(r *http.Request, a change.Actor) ([]api.Group, error) { return svc.Groups().ListGroupsFor(a) }))
	h("GET /v1/groups/{name}", "groups", false, answer(func(r *http.Request, a change.Actor) (api.Group, error) { return svc.Groups().GetGroupFor(a, name(r)) }))
	h("POST /v1/groups", "groups", false, withBody(http.StatusCreated, func(r *http.Request, a change.Actor, req api.CreateGroupRequest) (api.Group, error) {
		return svc.Groups().CreateGroup(ctx(r), a, req)
	}))
	h("DELETE /v1/groups/{name}", "groups", false, noContent(func(r *http.Request, a change.Actor) error { return svc.Groups().DeleteGroup(ctx(r), a, name(r)) }))
	h("POST /v1/groups/{name}/permissions", "groups", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, p api.Permission) (api.Group, error) {
		return svc.Groups().Grant(ctx(r), a, name(r), p)
	}))
	h("DELETE /v1/groups/{name}/permissions", "groups", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, p api.Permission) (api.Group, error) {
		return svc.Groups().Revoke(ctx(r), a, name(r), p)
	}))
	h("GET /v1/groups/{name}/members", "groups", false, listed(func(r *http.Request, a change.Actor) ([]api.Member, error) {
		return svc.Groups().MembersFor(a, name(r))
	}))
	h("POST /v1/groups/{name}/members", "groups", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.MemberRequest) (api.Group, error) {
		return svc.Groups().AddMember(ctx(r), a, name(r), req.Member)
	}))
	h("DELETE /v1/groups/{name}/members/{member}", "groups", false, noContent(func(r *http.Request, a change.Actor) error {
		_, err := svc.Groups().RemoveMember(ctx(r), a, name(r), r.PathValue("member"))
		return err
	}))

	h("POST /v1/applications", "applications", false, withBody(http.StatusCreated, func(r *http.Request, a change.Actor, req api.CreateApplicationRequest) (api.CreatedApplication, error) {
		return svc.Applications().CreateApplication(ctx(r), a, req)
	}))
	h("GET /v1/applications", "applications", false, listed(func(r *http.Request, a change.Actor) ([]api.Application, error) {
		return svc.Applications().ListApplicationsFor(a)
	}))
	h("GET /v1/applications/{id}", "applications", false, answer(func(r *http.Request, a change.Actor) (api.Application, error) {
		return svc.Applications().GetApplicationFor(a, id(r))
	}))
	h("POST /v1/applications/{id}/rotate", "applications", false, rt.rotateApp)
	h("POST /v1/applications/{id}/logout", "applications", false, noContent(func(r *http.Request, a change.Actor) error {
		return svc.Applications().LogoutApplication(ctx(r), a, id(r))
	}))
	h("DELETE /v1/applications/{id}", "applications", false, noContent(func(r *http.Request, a change.Actor) error {
		return svc.Applications().DeleteApplication(ctx(r), a, id(r))
	}))

	// Delivery providers: admin plane, and on the data plane for a bearer
	// with permission on "providers". The secret is write-only.
	h("POST /v1/providers", "providers", false, withBody(http.StatusCreated, func(r *http.Request, a change.Actor, req api.CreateProviderRequest) (api.Provider, error) {
		defer clear([]byte(req.ClientSecret)) // best effort: the string's bytes may have been copied
		return prov.CreateProvider(ctx(r), a, req)
	}))
	h("GET /v1/providers", "providers", false, listed(func(r *http.Request, a change.Actor) ([]api.Provider, error) { return prov.ListProviders() }))
	// A provider is addressed by its ID, or by its unique name.
	h("GET /v1/providers/{id}", "providers", false, answer(func(r *http.Request, a change.Actor) (api.Provider, error) { return prov.GetProvider(id(r)) }))
	h("PATCH /v1/providers/{id}", "providers", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.UpdateProviderRequest) (api.Provider, error) {
		return prov.UpdateProvider(ctx(r), a, id(r), req)
	}))
	h("DELETE /v1/providers/{id}", "providers", false, noContent(func(r *http.Request, a change.Actor) error { return prov.DeleteProvider(ctx(r), a, id(r)) }))
	h("POST /v1/providers/{id}/test", "providers", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.ProviderTestRequest) (api.ProviderTestResult, error) {
		return prov.TestProvider(ctx(r), a, id(r), req.To)
	}))
	h("POST /v1/providers/{id}/default", "providers", false, answer(func(r *http.Request, a change.Actor) (api.Provider, error) {
		return prov.SetDefaultProvider(ctx(r), a, id(r))
	}))
	appProviderRoutes(h, prov)

	if plane.Admin {
		h("POST /v1/apply", "", false, rt.apply)
		h("POST /v1/import", "", false, rt.importLerian)
		h("GET /v1/audit", "", false, rt.auditList)
		h("POST /v1/audit/verify", "", false, rt.auditVerify)
		h("GET /v1/review", "", false, rt.review)
		// Tenancy is set on the admin socket only (users: PATCH tenantId).
		h("PUT /v1/groups/{name}/tenant", "", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.TenantRequest) (api.Group, error) {
			return svc.Tenants().SetGroupTenant(ctx(r), a, name(r), req)
		}))
		h("PUT /v1/applications/{id}/tenant", "", false, withBody(http.StatusOK, func(r *http.Request, a change.Actor, req api.TenantRequest) (api.Application, error) {
			return svc.Tenants().SetApplicationTenant(ctx(r), a, id(r), req)
		}))
	}
}

// handle wraps a handler with authentication and, on the data plane,
// the permission check: the caller needs (resource, method) through its
// groups, or, where self is true, to be acting on their own user.
func (rt *identityRoutes) handle(pattern, resource string, self bool, fn handler) {
	method, _, _ := strings.Cut(pattern, " ")
	action := strings.ToLower(method)
	rt.m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		a, err := rt.plane.Authenticate(r)
		if err != nil {
			rt.fail(w, r, err)
			return
		}
		if err := checkPathParams(r); err != nil {
			rt.fail(w, r, err)
			return
		}
		if !rt.plane.Admin {
			own := self && rt.ownUser(r, a)
			if !own && (resource == "" || rt.plane.Allowed == nil || !rt.plane.Allowed(a.SubjectID, resource, action)) {
				rt.plane.Refusals.Refuse(r.Context(), a.Name, map[string]string{"resource": resource, "action": action},
					a.Entry(rt.plane.Now(), "authz.denied", resource, "denied", map[string]string{"method": method, "path": r.URL.Path}))
				rt.fail(w, r, fmt.Errorf("identity: %w: %s needs permission %q on %q", api.ErrForbidden, a.Name, action, resource))
				return
			}
		}
		if err := fn(w, r, a); err != nil {
			rt.fail(w, r, err)
		}
	})
}

func (rt *identityRoutes) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := api.FaultOf(err)
	if f == api.ErrInternal {
		rt.plane.Log.Error("identity request failed", "event", "identity.error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeLimited(w, err)
	api.WriteError(w, err)
}

func decode(r *http.Request, v any) error { return api.DecodeJSON(r.Body, v) }

// handler is what handle wraps: a route after authentication.
type handler = func(w http.ResponseWriter, r *http.Request, a change.Actor) error

// answer adapts a call without a body that answers a JSON document.
func answer[Resp any](call func(r *http.Request, a change.Actor) (Resp, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a change.Actor) error {
		out, err := call(r, a)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// withBody adapts a call that takes a strictly decoded JSON body and
// answers a JSON document with code.
func withBody[Req, Resp any](code int, call func(r *http.Request, a change.Actor, req Req) (Resp, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a change.Actor) error {
		var req Req
		if err := decode(r, &req); err != nil {
			return err
		}
		out, err := call(r, a, req)
		if err != nil {
			return err
		}
		api.WriteJSON(w, code, out)
		return nil
	}
}

// noContent adapts a call that answers 204.
func noContent(call func(r *http.Request, a change.Actor) error) handler {
	return func(w http.ResponseWriter, r *http.Request, a change.Actor) error {
		if err := call(r, a); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (rt *identityRoutes) createUser(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	var req api.CreateUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := rt.svc.Users().CreateUser(r.Context(), a, req)
	clear([]byte(req.Password)) // best effort: the string's bytes may have been copied
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, u)
	return nil
}

func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("identity: %w: query parameter %q must be a non-negative integer", api.ErrInvalidQuery, name)
	}
	return n, nil
}

func (rt *identityRoutes) listUsers(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := rt.svc.Users().ListUsersFor(a, p.page, p.limit, q.Get("group"), q.Get("status"))
	if err != nil {
		return err
	}
	writeList(w, r, p, list.Items, list.More)
	return nil
}

// optionalBody decodes a body that may be empty (no body, or only
// white space); anything else must be a whole, valid JSON object.
func optionalBody(r *http.Request, v any) error {
	br := bufio.NewReader(r.Body)
	for {
		b, err := br.Peek(1)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return api.DecodeJSON(br, v) // reports the read error (too large, …) as the decoder does
		}
		if b[0] != ' ' && b[0] != '\t' && b[0] != '\r' && b[0] != '\n' {
			return api.DecodeJSON(br, v)
		}
		_, _ = br.ReadByte()
	}
}

func (rt *identityRoutes) resetPassword(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	var req api.ResetPasswordRequest
	if err := optionalBody(r, &req); err != nil {
		return err
	}
	pw, err := rt.svc.Users().ResetPassword(r.Context(), a, r.PathValue("id"), []byte(req.NewPassword))
	if err != nil {
		return err
	}
	if pw == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	api.WriteJSON(w, http.StatusOK, api.PasswordReset{Password: string(pw)})
	clear(pw)
	return nil
}

func (rt *identityRoutes) updatePassword(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	var req api.UpdatePasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := rt.svc.Users().UpdatePassword(r.Context(), a, r.PathValue("id"), []byte(req.OldPassword), []byte(req.NewPassword)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *identityRoutes) rotateApp(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	var req api.RotateRequest
	if err := optionalBody(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.Applications().RotateApplication(r.Context(), a, r.PathValue("id"), req.Grace)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *identityRoutes) apply(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("identity: policy: %w: over %d bytes", api.ErrTooLarge, mbe.Limit)
		}
		return fmt.Errorf("identity: policy: %w: %v", api.ErrBadRequest, err)
	}
	dry := r.URL.Query().Get("dryRun") == "true"
	out, err := rt.plane.Apply.Apply(r.Context(), a, data, dry)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *identityRoutes) auditList(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("identity: %w: since must be an RFC 3339 time", api.ErrInvalidQuery)
		}
		since = t
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	out, err := rt.plane.Review.AuditList(since, q.Get("type"), limit)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *identityRoutes) auditVerify(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	out, err := rt.plane.Review.AuditVerify(r.Context(), a)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *identityRoutes) review(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	var stale time.Duration
	if v := r.URL.Query().Get("stale"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("identity: %w: stale must be a positive duration like \"2160h\"", api.ErrInvalidQuery)
		}
		stale = d
	}
	out, err := rt.plane.Review.Review(stale)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// importLerian is POST /v1/import?dryRun=true|false on the admin plane.
func (rt *identityRoutes) importLerian(w http.ResponseWriter, r *http.Request, a change.Actor) error {
	data, err := io.ReadAll(r.Body)
	defer clear(data) // the file holds client secrets
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("identity: import file: %w: over %d bytes; split it into several files (users, then applications) and import each", api.ErrTooLarge, mbe.Limit)
		}
		return fmt.Errorf("identity: import file: %w: %v", api.ErrBadRequest, err)
	}
	out, err := rt.svc.Importer().Import(r.Context(), a, data, r.URL.Query().Get("dryRun") == "true")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

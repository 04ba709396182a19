package identity

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/oauth/api"
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
	Authenticate func(r *http.Request) (Actor, error)
	// Allowed decides a data-plane caller's permission on an Identity
	// resource ("users", "groups", "applications", "reset-password",
	// "update-password") for an action (the HTTP verb, lower case).
	Allowed func(subjectID, resource, action string) bool
	Log     *slog.Logger
}

type routes struct {
	svc   *Service
	plane Plane
	m     *http.ServeMux
}

// Routes registers the Identity API on mux for one plane.
func Routes(mux *http.ServeMux, svc *Service, plane Plane) {
	if plane.Log == nil {
		plane.Log = slog.Default()
	}
	rt := &routes{svc: svc, plane: plane, m: mux}
	h := rt.handle
	h("POST /v1/users", "users", false, rt.createUser)
	h("GET /v1/users", "users", false, rt.listUsers)
	h("GET /v1/users/{id}", "users", true, rt.getUser)
	h("PATCH /v1/users/{id}", "users", false, rt.updateUser)
	h("DELETE /v1/users/{id}", "users", false, rt.deleteUser)
	h("POST /v1/users/{id}/disable", "users", false, rt.setEnabled(false))
	h("POST /v1/users/{id}/enable", "users", false, rt.setEnabled(true))
	h("PATCH /v1/users/{id}/reset-password", "reset-password", false, rt.resetPassword)
	h("PATCH /v1/users/{id}/update-password", "update-password", true, rt.updatePassword)
	h("POST /v1/users/{id}/logout", "users", false, rt.logout)
	// A user's second factor is theirs alone on the data plane (a helpdesk
	// resets MFA on the admin socket): nobody mints another's TOTP seed.
	h("GET /v1/users/{id}/mfa", "", true, rt.mfaStatus)
	h("POST /v1/users/{id}/mfa/setup", "", true, rt.mfaSetup)
	h("POST /v1/users/{id}/mfa/verify", "", true, rt.mfaVerify)
	h("POST /v1/users/{id}/mfa/enable", "", true, rt.mfaEnable)
	h("POST /v1/users/{id}/mfa/disable", "", true, rt.mfaDisable)
	h("PATCH /v1/users/{id}/mfa/preferred", "", true, rt.mfaPreferred)

	h("GET /v1/groups", "groups", false, rt.listGroups)
	h("GET /v1/groups/{name}", "groups", false, rt.getGroup)
	h("POST /v1/groups", "groups", false, rt.createGroup)
	h("DELETE /v1/groups/{name}", "groups", false, rt.deleteGroup)
	h("POST /v1/groups/{name}/permissions", "groups", false, rt.editPermission(true))
	h("DELETE /v1/groups/{name}/permissions", "groups", false, rt.editPermission(false))
	h("GET /v1/groups/{name}/members", "groups", false, rt.members)
	h("POST /v1/groups/{name}/members", "groups", false, rt.addMember)
	h("DELETE /v1/groups/{name}/members/{member}", "groups", false, rt.removeMember)

	h("POST /v1/applications", "applications", false, rt.createApp)
	h("GET /v1/applications", "applications", false, rt.listApps)
	h("GET /v1/applications/{id}", "applications", false, rt.getApp)
	h("POST /v1/applications/{id}/rotate", "applications", false, rt.rotateApp)
	h("DELETE /v1/applications/{id}", "applications", false, rt.deleteApp)

	if plane.Admin {
		h("POST /v1/apply", "", false, rt.apply)
		h("GET /v1/audit", "", false, rt.auditList)
		h("POST /v1/audit/verify", "", false, rt.auditVerify)
		h("GET /v1/review", "", false, rt.review)
	}
}

// handle wraps a handler with authentication and, on the data plane,
// the permission check: the caller needs (resource, method) through its
// groups, or, where self is true, to be acting on their own user.
func (rt *routes) handle(pattern, resource string, self bool, fn func(w http.ResponseWriter, r *http.Request, a Actor) error) {
	method, _, _ := strings.Cut(pattern, " ")
	action := strings.ToLower(method)
	rt.m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		a, err := rt.plane.Authenticate(r)
		if err != nil {
			rt.fail(w, r, err)
			return
		}
		if !rt.plane.Admin {
			own := self && a.SubjectID != "" && r.PathValue("id") == a.SubjectID
			if !own && (resource == "" || rt.plane.Allowed == nil || !rt.plane.Allowed(a.SubjectID, resource, action)) {
				rt.svc.record(r.Context(), rt.svc.entry(a, "authz.denied", resource, "denied",
					map[string]string{"method": method, "path": r.URL.Path}))
				rt.fail(w, r, fmt.Errorf("identity: %w: %s needs permission %q on %q", api.ErrForbidden, a.Name, action, resource))
				return
			}
		}
		if err := fn(w, r, a); err != nil {
			rt.fail(w, r, err)
		}
	})
}

func (rt *routes) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := api.FaultOf(err)
	if f == api.ErrInternal {
		rt.plane.Log.Error("identity request failed", "event", "identity.error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	api.WriteError(w, err)
}

func decode(r *http.Request, v any) error { return api.DecodeJSON(r.Body, v) }

func (rt *routes) createUser(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.CreateUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := rt.svc.CreateUser(r.Context(), a, req)
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
		return 0, fmt.Errorf("identity: %w: query parameter %q must be a non-negative integer", api.ErrInvalidField, name)
	}
	return n, nil
}

func (rt *routes) listUsers(w http.ResponseWriter, r *http.Request, a Actor) error {
	page, err := intParam(r, "page")
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := rt.svc.ListUsers(page, limit, q.Get("group"), q.Get("status"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, list)
	return nil
}

func (rt *routes) getUser(w http.ResponseWriter, r *http.Request, a Actor) error {
	u, err := rt.svc.GetUser(r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (rt *routes) updateUser(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.UpdateUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := rt.svc.UpdateUser(r.Context(), a, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (rt *routes) deleteUser(w http.ResponseWriter, r *http.Request, a Actor) error {
	if err := rt.svc.DeleteUser(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *routes) setEnabled(enabled bool) func(http.ResponseWriter, *http.Request, Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a Actor) error {
		u, err := rt.svc.SetUserEnabled(r.Context(), a, r.PathValue("id"), enabled)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, u)
		return nil
	}
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

func (rt *routes) resetPassword(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.ResetPasswordRequest
	if err := optionalBody(r, &req); err != nil {
		return err
	}
	pw, err := rt.svc.ResetPassword(r.Context(), a, r.PathValue("id"), []byte(req.NewPassword))
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

func (rt *routes) updatePassword(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.UpdatePasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := rt.svc.UpdatePassword(r.Context(), a, r.PathValue("id"), []byte(req.OldPassword), []byte(req.NewPassword)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *routes) logout(w http.ResponseWriter, r *http.Request, a Actor) error {
	if err := rt.svc.Logout(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *routes) mfaStatus(w http.ResponseWriter, r *http.Request, a Actor) error {
	st, err := rt.svc.MFAStatus(r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (rt *routes) mfaSetup(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.MFASetupRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.MFASetup(r.Context(), a, r.PathValue("id"), req.MFAType)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) mfaVerify(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.MFAVerifyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.MFAVerify(r.Context(), a, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) mfaEnable(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.MFAEnableRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.MFAEnable(r.Context(), a, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) mfaDisable(w http.ResponseWriter, r *http.Request, a Actor) error {
	out, err := rt.svc.MFADisable(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) mfaPreferred(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.MFAPreferredRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.MFAPreferred(r.Context(), a, r.PathValue("id"), req.MFAType)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) listGroups(w http.ResponseWriter, r *http.Request, a Actor) error {
	gs, err := rt.svc.ListGroups()
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, gs)
	return nil
}

func (rt *routes) getGroup(w http.ResponseWriter, r *http.Request, a Actor) error {
	g, err := rt.svc.GetGroup(r.PathValue("name"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, g)
	return nil
}

func (rt *routes) createGroup(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.CreateGroupRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	g, err := rt.svc.CreateGroup(r.Context(), a, req)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, g)
	return nil
}

func (rt *routes) deleteGroup(w http.ResponseWriter, r *http.Request, a Actor) error {
	if err := rt.svc.DeleteGroup(r.Context(), a, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *routes) editPermission(grant bool) func(http.ResponseWriter, *http.Request, Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a Actor) error {
		var p api.Permission
		if err := decode(r, &p); err != nil {
			return err
		}
		var g api.Group
		var err error
		if grant {
			g, err = rt.svc.Grant(r.Context(), a, r.PathValue("name"), p)
		} else {
			g, err = rt.svc.Revoke(r.Context(), a, r.PathValue("name"), p)
		}
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, g)
		return nil
	}
}

func (rt *routes) members(w http.ResponseWriter, r *http.Request, a Actor) error {
	ms, err := rt.svc.Members(r.PathValue("name"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, ms)
	return nil
}

func (rt *routes) addMember(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.MemberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	g, err := rt.svc.AddMember(r.Context(), a, r.PathValue("name"), req.Member)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, g)
	return nil
}

func (rt *routes) removeMember(w http.ResponseWriter, r *http.Request, a Actor) error {
	if _, err := rt.svc.RemoveMember(r.Context(), a, r.PathValue("name"), r.PathValue("member")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *routes) createApp(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.CreateApplicationRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.CreateApplication(r.Context(), a, req)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, out)
	return nil
}

func (rt *routes) listApps(w http.ResponseWriter, r *http.Request, a Actor) error {
	out, err := rt.svc.ListApplications()
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) getApp(w http.ResponseWriter, r *http.Request, a Actor) error {
	out, err := rt.svc.GetApplication(r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) rotateApp(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.RotateRequest
	if err := optionalBody(r, &req); err != nil {
		return err
	}
	out, err := rt.svc.RotateApplication(r.Context(), a, r.PathValue("id"), req.Grace)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) deleteApp(w http.ResponseWriter, r *http.Request, a Actor) error {
	if err := rt.svc.DeleteApplication(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *routes) apply(w http.ResponseWriter, r *http.Request, a Actor) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("identity: policy: %w: over %d bytes", api.ErrTooLarge, mbe.Limit)
		}
		return fmt.Errorf("identity: policy: %w: %v", api.ErrBadRequest, err)
	}
	dry := r.URL.Query().Get("dryRun") == "true"
	out, err := rt.svc.Apply(r.Context(), a, data, dry)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) auditList(w http.ResponseWriter, r *http.Request, a Actor) error {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("identity: %w: since must be an RFC 3339 time", api.ErrInvalidField)
		}
		since = t
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	out, err := rt.svc.AuditList(since, q.Get("type"), limit)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) auditVerify(w http.ResponseWriter, r *http.Request, a Actor) error {
	out, err := rt.svc.AuditVerify(r.Context(), a)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *routes) review(w http.ResponseWriter, r *http.Request, a Actor) error {
	var stale time.Duration
	if v := r.URL.Query().Get("stale"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("identity: %w: stale must be a positive duration like \"2160h\"", api.ErrInvalidField)
		}
		stale = d
	}
	out, err := rt.svc.Review(stale)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

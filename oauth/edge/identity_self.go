package edge

import (
	"net/http"

	"github.com/accessd/accessd/oauth/change"
)

// ownUser reports whether the path's {id} names the caller's own user,
// and if so pins the path to that record's ID. The path is resolved to
// one user record first (by ID, else by username, as the handlers
// resolve it), and the check runs on the record's ID, not on the path:
// an application's token whose path is its own record ID must not reach
// a user named after that ID. The handler then acts on the record
// checked, whatever the path said.
func (rt *identityRoutes) ownUser(r *http.Request, a change.Actor) bool {
	if a.SubjectID == "" {
		return false
	}
	u, err := rt.svc.Users().GetUserFor(a, r.PathValue("id"))
	if err != nil || u.ID != a.SubjectID {
		return false
	}
	r.SetPathValue("id", u.ID)
	return true
}

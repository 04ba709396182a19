package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/store"
)

// refusingRotator fails the test if a refused caller reaches it.
type refusingRotator struct{ t *testing.T }

func (r refusingRotator) RotateFields(store.RotateFieldsOptions) (store.FieldRotation, error) {
	assert.Fail(r.t, "rotate-fields ran for a caller the plane refused")
	return store.FieldRotation{}, nil
}

// TestAdminRoutesNameTheirCaller: every admin route of the edge's own
// (signing keys, field keys, backup) refuses a caller AdminActor cannot
// name, before it touches a room.
func TestAdminRoutesNameTheirCaller(t *testing.T) {
	t.Parallel()
	e := directorytest.Open(t, directory.DefaultConfig(), credential.HasherOptions{})
	mux := Admin(Planes{
		Identity: e.Service, MFA: e.Enrolment, Index: e.Index, Audit: e.Audit,
		AdminActor: func(*http.Request) (change.Actor, error) {
			return change.Actor{}, fmt.Errorf("test: %w: no peer credentials", api.ErrForbidden)
		},
		Status:  func() api.Status { return api.Status{} },
		Metrics: http.NotFoundHandler(),
		Backup: func(io.Writer, time.Time) error {
			assert.Fail(t, "a backup was written for a caller the plane refused")
			return nil
		},
		Fields: refusingRotator{t},
	})
	for _, route := range [][2]string{{"GET", "/v1/keys"}, {"POST", "/v1/keys/rotate"}, {"GET", "/v1/backup"}, {"POST", "/v1/keys/rotate-fields"}} {
		t.Run(route[0]+" "+route[1], func(t *testing.T) {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(route[0], route[1], nil))
			require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
		})
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/nothing-here", nil))
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Contains(t, w.Body.String(), "no such admin route: GET /v1/nothing-here")
}

// TestDataPlaneHealthAndNotFound: /health answers without a caller, and a
// route nobody registered is the catalogue's not-found, naming it.
func TestDataPlaneHealthAndNotFound(t *testing.T) {
	t.Parallel()
	e := directorytest.Open(t, directory.DefaultConfig(), credential.HasherOptions{})
	mux := Data(Planes{Identity: e.Service, MFA: e.Enrolment, Index: e.Index, Audit: e.Audit})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/health", nil))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "healthy", w.Body.String())
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("DELETE", "/v1/nothing-here", nil))
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Contains(t, w.Body.String(), "no such route: DELETE /v1/nothing-here")
}

package directory_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/edge"
)

// Resources lists exactly the resources the data plane's Identity routes
// check, so GET /v1/permissions shows the console every Identity page a
// caller may open and no other. Every route registered in oauth/edge/identity.go is
// called on the data plane as a caller the permission check refuses; the resources it asked
// about are collected.
func TestResourcesAreWhatTheRoutesCheck(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../edge/identity.go")
	require.NoError(t, err)
	patterns := regexp.MustCompile(`h\("([A-Z]+) (/v1/[^"]*)"`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, patterns)

	e := newEnv(t, directory.Config{})
	var mu sync.Mutex
	asked := map[string]bool{}
	mux := http.NewServeMux()
	edge.IdentityRoutes(mux, e.Service, edge.Plane{
		MFA:   e.Enrolment,
		Audit: e.Audit,
		Now:   e.Clock.Now,
		Authenticate: func(*http.Request) (change.Actor, error) {
			return change.Actor{Name: "app:probe", SubjectID: "probe"}, nil
		},
		Allowed: func(_, resource, _ string) bool {
			mu.Lock()
			defer mu.Unlock()
			asked[resource] = true
			return false
		},
	})
	for _, p := range patterns {
		path := regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(p[2], "x")
		req := httptest.NewRequest(p[1], path, strings.NewReader("{}"))
		if _, pattern := mux.Handler(req); pattern == "" {
			continue // admin socket only (apply, audit, review)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		require.Equal(t, http.StatusForbidden, w.Code, "%s %s", p[1], p[2])
	}
	var got []string
	for r := range asked {
		got = append(got, r)
	}
	slices.Sort(got)
	require.Equal(t, directory.Resources, got)
}

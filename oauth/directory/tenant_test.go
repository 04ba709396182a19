package directory_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/directory/directorytest"
	"github.com/accessd/accessd/oauth/login"
)

// bearer is a data-plane caller acting as the user u.
func bearer(u api.CreatedUser) change.Actor {
	return change.Actor{Name: "user:" + u.ID, Source: "192.0.2.1", SubjectID: u.ID}
}

func usernames(l api.UserList) []string {
	var out []string
	for _, u := range l.Items {
		out = append(out, u.Username)
	}
	slices.Sort(out)
	return out
}

// TestTenantScope: a bearer with a tenant sees and manages only its
// tenant's users, groups and applications (and the shared groups), gets
// 404 for another tenant's, creates in its own tenant, and cannot set a
// tenant; a bearer without a tenant and the admin socket see everything.
func TestTenantScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	mk := func(name, tenant, slug string) api.CreatedUser {
		u, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: name, Email: name + "@example.com", TenantID: tenant, TenantSlug: slug})
		require.NoError(t, err)
		return u
	}
	a1 := mk("ana-t1", "t-1", "acme")
	b1 := mk("bia-t1", "t-1", "acme")
	c2 := mk("caio-t2", "t-2", "")
	g0 := mk("gil", "", "")
	require.Equal(t, "t-1", a1.TenantID)
	require.Equal(t, "acme", a1.TenantSlug)
	_, err := e.Service.Groups().CreateGroup(ctx, admin, api.CreateGroupRequest{Name: "t1-ops", TenantID: "t-1", TenantSlug: "acme"})
	require.NoError(t, err)
	_, err = e.Service.Groups().CreateGroup(ctx, admin, api.CreateGroupRequest{Name: "t2-ops", TenantID: "t-2"})
	require.NoError(t, err)
	app2, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "t2-app", TenantID: "t-2"})
	require.NoError(t, err)
	t1 := bearer(a1)
	// An application's bearer is scoped by the application's tenant.
	l, err := e.Service.Users().ListUsersFor(change.Actor{Name: "app:" + app2.ClientID, SubjectID: app2.ID}, 1, 0, "", "")
	require.NoError(t, err)
	require.Equal(t, []string{"caio-t2"}, usernames(l))

	l, err = e.Service.Users().ListUsersFor(t1, 1, 0, "", "")
	require.NoError(t, err)
	require.Equal(t, []string{"ana-t1", "bia-t1"}, usernames(l))
	l, err = e.Service.Users().ListUsersFor(bearer(g0), 1, 0, "", "")
	require.NoError(t, err)
	require.Contains(t, usernames(l), "caio-t2", "a bearer without a tenant sees every tenant")
	l, err = e.Service.Users().ListUsersFor(admin, 1, 0, "", "")
	require.NoError(t, err)
	require.Contains(t, usernames(l), "caio-t2")

	_, err = e.Service.Users().GetUserFor(t1, b1.ID)
	require.NoError(t, err)
	first := "X"
	for name, call := range map[string]func() error{
		"get":            func() error { _, err := e.Service.Users().GetUserFor(t1, c2.ID); return err },
		"get by name":    func() error { _, err := e.Service.Users().GetUserFor(t1, "caio-t2"); return err },
		"get untenanted": func() error { _, err := e.Service.Users().GetUserFor(t1, g0.ID); return err },
		"update": func() error {
			_, err := e.Service.Users().UpdateUser(ctx, t1, c2.ID, api.UpdateUserRequest{FirstName: &first})
			return err
		},
		"disable":        func() error { _, err := e.Service.Users().SetUserEnabled(ctx, t1, c2.ID, false); return err },
		"reset password": func() error { _, err := e.Service.Users().ResetPassword(ctx, t1, c2.ID, nil); return err },
		"logout":         func() error { return e.Service.Users().Logout(ctx, t1, c2.ID) },
		"delete":         func() error { return e.Service.Users().DeleteUser(ctx, t1, c2.ID) },
		"get group":      func() error { _, err := e.Service.Groups().GetGroupFor(t1, "t2-ops"); return err },
		"members":        func() error { _, err := e.Service.Groups().MembersFor(t1, "t2-ops"); return err },
		"delete group":   func() error { return e.Service.Groups().DeleteGroup(ctx, t1, "t2-ops") },
		"grant": func() error {
			_, err := e.Service.Groups().Grant(ctx, t1, "t2-ops", api.Permission{Resource: "x", Action: "get"})
			return err
		},
		"add to group":   func() error { _, err := e.Service.Groups().AddMember(ctx, t1, "t2-ops", a1.ID); return err },
		"add member":     func() error { _, err := e.Service.Groups().AddMember(ctx, t1, "t1-ops", c2.ID); return err },
		"get app":        func() error { _, err := e.Service.Applications().GetApplicationFor(t1, app2.ID); return err },
		"get app by cid": func() error { _, err := e.Service.Applications().GetApplicationFor(t1, app2.ClientID); return err },
		"rotate app":     func() error { _, err := e.Service.Applications().RotateApplication(ctx, t1, app2.ID, ""); return err },
		"delete app":     func() error { return e.Service.Applications().DeleteApplication(ctx, t1, app2.ID) },
		"create in other group": func() error {
			_, err := e.Service.Users().CreateUser(ctx, t1, api.CreateUserRequest{Username: "dora", Email: "dora@example.com", Groups: []string{"t2-ops"}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(), api.ErrNotFound, "another tenant's record reads as missing")
		})
	}
	got, err := e.Service.Users().GetUser(c2.ID)
	require.NoError(t, err)
	require.True(t, got.Enabled, "nothing was changed")
	require.Empty(t, got.FirstName)

	// Groups: the tenant's own and the shared ones; shared ones are not
	// the tenant's to change.
	gs, err := e.Service.Groups().ListGroupsFor(t1)
	require.NoError(t, err)
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	require.Contains(t, names, "t1-ops")
	require.Contains(t, names, "midaz-viewer-group")
	require.NotContains(t, names, "t2-ops")
	require.ErrorIs(t, e.Service.Groups().DeleteGroup(ctx, t1, "midaz-viewer-group"), api.ErrForbidden)
	_, err = e.Service.Groups().AddMember(ctx, t1, "t1-ops", b1.ID)
	require.NoError(t, err)
	_, err = e.Service.Groups().AddMember(ctx, admin, "t1-ops", c2.ID)
	require.NoError(t, err, "the admin socket may mix tenants")
	ms, err := e.Service.Groups().MembersFor(t1, "t1-ops")
	require.NoError(t, err)
	require.Len(t, ms, 1, "another tenant's member is left out")

	// Created records land in the caller's tenant; naming a tenant is
	// for the admin socket.
	d, err := e.Service.Users().CreateUser(ctx, t1, api.CreateUserRequest{Username: "dora", Email: "dora@example.com", Groups: []string{"t1-ops"}})
	require.NoError(t, err)
	require.Equal(t, "t-1", d.TenantID)
	require.Equal(t, "acme", d.TenantSlug)
	g, err := e.Service.Groups().CreateGroup(ctx, t1, api.CreateGroupRequest{Name: "t1-new"})
	require.NoError(t, err)
	require.Equal(t, "t-1", g.TenantID)
	// Minting a secret on the data plane needs a second-factor sign-in.
	directorytest.EnrolTOTP(t, e.Enrolment, e.Clock.Now(), a1.ID)
	t1mfa := t1
	t1mfa.Session = &change.Session{AuthTime: e.Clock.Now(), AMR: []string{login.AMRPassword, login.AMROTP}}
	ap, err := e.Service.Applications().CreateApplication(ctx, t1mfa, api.CreateApplicationRequest{Name: "t1-app"})
	require.NoError(t, err)
	apps, err := e.Service.Applications().ListApplicationsFor(t1)
	require.NoError(t, err)
	require.Len(t, apps, 1)
	require.Equal(t, ap.ID, apps[0].ID)
	require.Equal(t, "t-1", apps[0].TenantID)
	_, err = e.Service.Users().CreateUser(ctx, t1, api.CreateUserRequest{Username: "eva", Email: "eva@example.com", TenantID: "t-2"})
	require.ErrorIs(t, err, api.ErrForbidden)
	_, err = e.Service.Groups().CreateGroup(ctx, t1, api.CreateGroupRequest{Name: "t2-new", TenantID: "t-2"})
	require.ErrorIs(t, err, api.ErrForbidden)
	other := "t-2"
	_, err = e.Service.Users().UpdateUser(ctx, t1, d.ID, api.UpdateUserRequest{TenantID: &other})
	require.ErrorIs(t, err, api.ErrForbidden)
	_, err = e.Service.Tenants().SetGroupTenant(ctx, t1, "t1-new", api.TenantRequest{TenantID: "t-2"})
	require.ErrorIs(t, err, api.ErrForbidden)

	// The admin socket moves records between tenants.
	u, err := e.Service.Users().UpdateUser(ctx, admin, d.ID, api.UpdateUserRequest{TenantID: &other})
	require.NoError(t, err)
	require.Equal(t, "t-2", u.TenantID)
	require.Empty(t, u.TenantSlug)
	_, err = e.Service.Users().GetUserFor(t1, d.ID)
	require.ErrorIs(t, err, api.ErrNotFound, "moved out of the caller's tenant")
	_, err = e.Service.Tenants().SetGroupTenant(ctx, admin, "t2-ops", api.TenantRequest{TenantID: "t-1", TenantSlug: "acme"})
	require.NoError(t, err)
	_, err = e.Service.Groups().GetGroupFor(t1, "t2-ops")
	require.NoError(t, err)
	_, err = e.Service.Tenants().SetApplicationTenant(ctx, admin, app2.ClientID, api.TenantRequest{})
	require.NoError(t, err)
	_, err = e.Service.Applications().GetApplicationFor(t1, app2.ID)
	require.ErrorIs(t, err, api.ErrNotFound, "an application without a tenant is not a tenant's")
	for _, bad := range []api.TenantRequest{{TenantSlug: "x"}, {TenantID: "has space"}, {TenantID: "t", TenantSlug: "UPPER"}} {
		_, err = e.Service.Tenants().SetGroupTenant(ctx, admin, "t1-ops", bad)
		require.ErrorIs(t, err, api.ErrInvalidField, "%+v", bad)
	}
}

// TestTenantAppProvidersAndSharedProviders: on the data plane another
// tenant's application reads as missing on the Application Providers
// routes too, and the delivery providers every tenant's codes go through
// are changed only by the admin socket or a bearer without a tenant.
func TestTenantAppProvidersAndSharedProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.Config{})
	ctx := context.Background()
	a1, err := e.Service.Users().CreateUser(ctx, admin, api.CreateUserRequest{Username: "ana-t1", Email: "ana@example.com", TenantID: "t-1"})
	require.NoError(t, err)
	g0 := e.User(t, "gil")
	app1, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "t1-app", TenantID: "t-1"})
	require.NoError(t, err)
	app2, err := e.Service.Applications().CreateApplication(ctx, admin, api.CreateApplicationRequest{Name: "t2-app", TenantID: "t-2"})
	require.NoError(t, err)
	p, err := e.Service.Providers().CreateProvider(ctx, admin, api.CreateProviderRequest{Name: "relay", Category: api.ProviderEmail, Host: "mail.example.internal", From: "a@example.internal"})
	require.NoError(t, err)
	t1, t0 := bearer(a1), bearer(g0)

	for name, call := range map[string]func() error{
		"link": func() error {
			_, err := e.Service.Providers().LinkProvider(ctx, t1, app2.ID, api.LinkProviderRequest{ProviderID: p.ID})
			return err
		},
		"list": func() error { _, err := e.Service.Providers().ListAppProviders(t1, app2.ID); return err },
		"default": func() error {
			_, err := e.Service.Providers().SetAppDefaultProvider(ctx, t1, app2.ID, p.ID)
			return err
		},
		"unlink": func() error { return e.Service.Providers().UnlinkProvider(ctx, t1, app2.ID, p.ID) },
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(), api.ErrNotFound, "another tenant's application reads as missing")
		})
	}
	ls, err := e.Service.Providers().ListAppProviders(admin, app2.ID)
	require.NoError(t, err)
	require.Empty(t, ls, "nothing was linked to tenant t-2's application")

	// Its own application: linking a shared provider is the tenant's own business.
	_, err = e.Service.Providers().LinkProvider(ctx, t1, app1.ID, api.LinkProviderRequest{ProviderID: p.ID})
	require.NoError(t, err)
	ls, err = e.Service.Providers().ListAppProviders(t1, app1.ID)
	require.NoError(t, err)
	require.Len(t, ls, 1)

	// The providers themselves are shared: a tenant bearer changes none.
	host := "noreply@example.internal"
	for name, call := range map[string]func(a change.Actor) error{
		"create": func(a change.Actor) error {
			_, err := e.Service.Providers().CreateProvider(ctx, a, api.CreateProviderRequest{Name: "mine-" + a.SubjectID[:4], Category: api.ProviderEmail, Host: "127.0.0.2", From: host}) // inside the test allow_hosts
			return err
		},
		"update": func(a change.Actor) error {
			_, err := e.Service.Providers().UpdateProvider(ctx, a, p.ID, api.UpdateProviderRequest{From: &host})
			return err
		},
		"set default": func(a change.Actor) error {
			_, err := e.Service.Providers().SetDefaultProvider(ctx, a, p.ID)
			return err
		},
	} {
		t.Run("provider "+name, func(t *testing.T) {
			require.ErrorIs(t, call(t1), api.ErrForbidden, "a tenant bearer changes no shared provider")
			require.NoError(t, call(t0), "a bearer without a tenant may")
		})
	}
	require.ErrorIs(t, e.Service.Providers().DeleteProvider(ctx, t1, p.ID), api.ErrForbidden)
}

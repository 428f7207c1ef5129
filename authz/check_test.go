package authz_test

import (
	"context"
	"errors"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// fixture builds data through the engine's public API.
type fixture struct {
	t   *testing.T
	ctx context.Context
	e   *authz.Engine
	db  *models.DB
}

func newFixture(t *testing.T, db *models.DB, opts ...authz.Option) *fixture {
	return &fixture{t: t, ctx: context.Background(), e: authz.NewEngine(models.NewStore(db), opts...), db: db}
}

func (f *fixture) user(name string, active, super bool) int64 {
	f.t.Helper()
	u, err := f.e.CreateUser(f.ctx, name, active, super)
	if err != nil {
		f.t.Fatal(err)
	}
	return u.ID
}

func (f *fixture) group(name string, members ...int64) int64 {
	f.t.Helper()
	g, err := f.e.CreateGroup(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range members {
		if err := f.e.AddUserToGroup(f.ctx, m, g.ID); err != nil {
			f.t.Fatal(err)
		}
	}
	return g.ID
}

func (f *fixture) project(name string) int64 {
	f.t.Helper()
	p, err := f.e.CreateProject(f.ctx, name, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.ID
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) mustBool(_ bool, err error) {
	f.t.Helper()
	f.must(err)
}

// TestHasProjectPermRules holds HasProjectPerm and HasPerm to every rule
// and edge of docs/model.md, The decision. Each case builds its own state from a shared base
// through the public API.
func TestHasProjectPermRules(t *testing.T) {
	type world struct {
		f                       *fixture
		alice, bob, carol, root int64
		editors                 int64
		p7, p8                  int64
	}
	base := func(f *fixture) *world {
		w := &world{f: f}
		w.alice = f.user("alice", true, false)
		w.bob = f.user("bob", true, false)
		w.carol = f.user("carol", false, false)
		w.root = f.user("root", true, true)
		w.editors = f.group("editors", w.bob)
		w.p7 = f.project("seven")
		w.p8 = f.project("eight")
		return w
	}
	const viewPage = "projects.view_page"
	cases := []struct {
		name    string
		setup   func(w *world)
		user    func(w *world) int64
		perm    string
		project func(w *world) int64 // nil: HasPerm
		allowed bool
		reason  authz.Reason
		err     error
	}{
		{
			name: "anonymous",
			user: func(w *world) int64 { return authz.Anonymous },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonAnonymous,
		},
		{
			name:  "inactive superuser",
			setup: func(w *world) { w.f.mustBool(true, nil); w.f.updateFlags(w.root, false, true) },
			user:  func(w *world) int64 { return w.root },
			perm:  viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonInactive,
		},
		{
			name: "superuser with no grants",
			user: func(w *world) int64 { return w.root },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			allowed: true, reason: authz.ReasonSuperuser,
		},
		{
			name:    "superuser globally",
			user:    func(w *world) int64 { return w.root },
			perm:    "auth.delete_user",
			allowed: true, reason: authz.ReasonSuperuser,
		},
		{
			name:  "inactive user with a grant",
			setup: func(w *world) { w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{User: w.carol}, viewPage)) },
			user:  func(w *world) int64 { return w.carol },
			perm:  viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonInactive,
		},
		{
			name: "no grant",
			user: func(w *world) int64 { return w.alice },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant,
		},
		{
			name:  "global user grant counts in every project",
			setup: func(w *world) { w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage)) },
			user:  func(w *world) int64 { return w.alice },
			perm:  viewPage, project: func(w *world) int64 { return w.p8 },
			allowed: true, reason: authz.ReasonGlobalUser,
		},
		{
			name:  "global group grant counts in every project",
			setup: func(w *world) { w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage)) },
			user:  func(w *world) int64 { return w.bob },
			perm:  viewPage, project: func(w *world) int64 { return w.p8 },
			allowed: true, reason: authz.ReasonGlobalGroup,
		},
		{
			name:    "global group grant for HasPerm",
			setup:   func(w *world) { w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage)) },
			user:    func(w *world) int64 { return w.bob },
			perm:    viewPage,
			allowed: true, reason: authz.ReasonGlobalGroup,
		},
		{
			name:  "project user grant",
			setup: func(w *world) { w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)) },
			user:  func(w *world) int64 { return w.alice },
			perm:  viewPage, project: func(w *world) int64 { return w.p7 },
			allowed: true, reason: authz.ReasonProjectUser,
		},
		{
			name:  "project grant does not leak to another project",
			setup: func(w *world) { w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)) },
			user:  func(w *world) int64 { return w.alice },
			perm:  viewPage, project: func(w *world) int64 { return w.p8 },
			reason: authz.ReasonNoGrant,
		},
		{
			name:   "project grant does not count for HasPerm",
			setup:  func(w *world) { w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)) },
			user:   func(w *world) int64 { return w.alice },
			perm:   viewPage,
			reason: authz.ReasonNoGrant,
		},
		{
			name: "project group grant",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7))
			},
			user: func(w *world) int64 { return w.bob },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			allowed: true, reason: authz.ReasonProjectGroup,
		},
		{
			name: "group grant vanishes when the user leaves the group",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7))
				w.f.mustBool(w.f.e.RemoveUserFromGroup(w.f.ctx, w.bob, w.editors))
			},
			user: func(w *world) int64 { return w.bob },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant,
		},
		{
			name: "group grant appears when a user joins later",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7))
				w.f.must(w.f.e.AddUserToGroup(w.f.ctx, w.alice, w.editors))
			},
			user: func(w *world) int64 { return w.alice },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			allowed: true, reason: authz.ReasonProjectGroup,
		},
		{
			name: "global and project grant, project one revoked: still allowed",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage))
				w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
				w.f.mustBool(w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
			},
			user: func(w *world) int64 { return w.alice },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			allowed: true, reason: authz.ReasonGlobalUser,
		},
		{
			name: "global and project grant, both revoked: denied",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage))
				w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
				w.f.mustBool(w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
				w.f.mustBool(w.f.e.RevokePerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage))
			},
			user: func(w *world) int64 { return w.alice },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant,
		},
		{
			name: "deleted project",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
				w.f.mustBool(w.f.e.DeleteProject(w.f.ctx, w.p7))
			},
			user: func(w *world) int64 { return w.alice },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant, err: authz.ErrNotFound,
		},
		{
			name:  "permission of another app",
			setup: func(w *world) { w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)) },
			user:  func(w *world) int64 { return w.alice },
			perm:  "auth.view_user", project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant,
		},
		{
			name: "malformed permission",
			user: func(w *world) int64 { return w.root },
			perm: "projects.View-Page", project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant, err: authz.ErrMalformedPermission,
		},
		{
			name: "unknown permission, even for a superuser",
			user: func(w *world) int64 { return w.root },
			perm: "projects.fly_page", project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonUnknownPermission, err: authz.ErrUnknownPermission,
		},
		{
			name: "user that does not exist",
			user: func(w *world) int64 { return 999999 },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant, err: authz.ErrNotFound,
		},
		{
			name: "deleted user's grant does not reach a new user",
			setup: func(w *world) {
				w.f.must(w.f.e.GrantPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage))
				w.f.mustBool(w.f.e.DeleteUser(w.f.ctx, w.alice))
			},
			user: func(w *world) int64 { return w.f.user("alice", true, false) },
			perm: viewPage, project: func(w *world) int64 { return w.p7 },
			reason: authz.ReasonNoGrant,
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				dbtest.MustExec(t, db, "DELETE FROM users")
				dbtest.MustExec(t, db, "DELETE FROM groups")
				dbtest.MustExec(t, db, "DELETE FROM projects")
				w := base(newFixture(t, db))
				if tc.setup != nil {
					tc.setup(w)
				}
				user := tc.user(w)
				var (
					d   authz.Decision
					err error
				)
				if tc.project == nil {
					d, err = w.f.e.HasPerm(w.f.ctx, user, tc.perm)
				} else {
					d, err = w.f.e.HasProjectPerm(w.f.ctx, user, tc.perm, tc.project(w))
				}
				if !errors.Is(err, tc.err) {
					t.Fatalf("check(%s) error = %v, want %v", tc.perm, err, tc.err)
				}
				if d.Allowed != tc.allowed || d.Reason != tc.reason {
					t.Errorf("check(%s) = %v/%s, want %v/%s", tc.perm, d.Allowed, d.Reason, tc.allowed, tc.reason)
				}
			})
		}
	})
}

func (f *fixture) updateFlags(user int64, active, super bool) {
	f.t.Helper()
	if _, err := f.e.UpdateUser(f.ctx, user, &active, &super); err != nil {
		f.t.Fatal(err)
	}
}

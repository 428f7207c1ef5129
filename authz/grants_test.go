package authz_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// grantWorld is the data of the grant-management tests: alice and bob are
// active, alice is a member of editors; p7 and p8 are projects.
type grantWorld struct {
	f          *fixture
	alice, bob int64
	editors    int64
	p7, p8     int64
}

func newGrantWorld(t *testing.T, db *models.DB) *grantWorld {
	t.Helper()
	for _, table := range []string{"users", "groups", "projects"} {
		dbtest.MustExec(t, db, "DELETE FROM "+table)
	}
	f := newFixture(t, db)
	w := &grantWorld{f: f}
	w.alice = f.user("alice", true, false)
	w.bob = f.user("bob", true, false)
	w.editors = f.group("editors", w.alice)
	w.p7 = f.project("seven")
	w.p8 = f.project("eight")
	return w
}

// grantKind is one of the four kinds of grant, given to alice directly or
// through editors.
type grantKind struct {
	name   string
	grant  func(w *grantWorld) error
	revoke func(w *grantWorld) (bool, error)
	source authz.Reason // what the grant makes alice's view_page in p7 come from
}

var grantKinds = []grantKind{
	{
		name:  "global user grant",
		grant: func(w *grantWorld) error { return w.f.e.GrantPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage) },
		revoke: func(w *grantWorld) (bool, error) {
			return w.f.e.RevokePerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage)
		},
		source: authz.ReasonGlobalUser,
	},
	{
		name:  "global group grant",
		grant: func(w *grantWorld) error { return w.f.e.GrantPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage) },
		revoke: func(w *grantWorld) (bool, error) {
			return w.f.e.RevokePerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage)
		},
		source: authz.ReasonGlobalGroup,
	},
	{
		name: "project user grant",
		grant: func(w *grantWorld) error {
			return w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)
		},
		revoke: func(w *grantWorld) (bool, error) {
			return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)
		},
		source: authz.ReasonProjectUser,
	},
	{
		name: "project group grant",
		grant: func(w *grantWorld) error {
			return w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7)
		},
		revoke: func(w *grantWorld) (bool, error) {
			return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7)
		},
		source: authz.ReasonProjectGroup,
	},
}

// TestGrantTwice: granting what is held already is no error and leaves one
// grant, which one revocation takes away; a second revocation answers
// false.
func TestGrantTwice(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, k := range grantKinds {
			t.Run(k.name, func(t *testing.T) {
				w := newGrantWorld(t, db)
				ctx, e := w.f.ctx, w.f.e
				for i := range 2 {
					if err := k.grant(w); err != nil {
						t.Fatalf("grant #%d error = %v, want nil", i+1, err)
					}
				}
				users, err := e.UsersWithProjectPerm(ctx, viewPage, w.p7, authz.PageRequest{First: 10})
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"alice " + string(k.source)}
				if diff := cmp.Diff(want, userSources(users.Users)); diff != "" {
					t.Errorf("UsersWithProjectPerm(%s, p7) after granting twice mismatch (-want +got):\n%s", viewPage, diff)
				}
				if got, err := k.revoke(w); err != nil || !got {
					t.Fatalf("first revoke = %v, %v, want true, nil", got, err)
				}
				if d, err := e.HasProjectPerm(ctx, w.alice, viewPage, w.p7); err != nil || d.Allowed {
					t.Errorf("HasProjectPerm(alice, %s, p7) after one revoke = %+v, %v, want a deny", viewPage, d, err)
				}
				if got, err := k.revoke(w); err != nil || got {
					t.Errorf("second revoke = %v, %v, want false, nil", got, err)
				}
			})
		}
	})
}

// TestRevokeWhatIsNotHeld: revoking a grant that does not exist answers
// false, and leaves the grants that do exist alone.
func TestRevokeWhatIsNotHeld(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(w *grantWorld) error // the grant that exists, if any
		revoke func(w *grantWorld) (bool, error)
		// still is the decision for alice's view_page in p7 afterwards.
		still authz.Reason
	}{
		{
			name: "global user grant never given",
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokePerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage)
			},
			still: authz.ReasonNoGrant,
		},
		{
			name: "global group grant never given",
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokePerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage)
			},
			still: authz.ReasonNoGrant,
		},
		{
			name: "project user grant never given",
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)
			},
			still: authz.ReasonNoGrant,
		},
		{
			name: "project group grant never given",
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7)
			},
			still: authz.ReasonNoGrant,
		},
		{
			name:  "global revoke of a project grant",
			setup: grantKinds[2].grant,
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokePerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage)
			},
			still: authz.ReasonProjectUser,
		},
		{
			name:  "project revoke of a global grant",
			setup: grantKinds[0].grant,
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7)
			},
			still: authz.ReasonGlobalUser,
		},
		{
			name:  "revoke in another project",
			setup: grantKinds[2].grant,
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, viewPage, w.p8)
			},
			still: authz.ReasonProjectUser,
		},
		{
			name:  "revoke from the group when the user holds it",
			setup: grantKinds[2].grant,
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{Group: w.editors}, viewPage, w.p7)
			},
			still: authz.ReasonProjectUser,
		},
		{
			name:  "revoke from another user who shares the project grant's row",
			setup: grantKinds[3].grant,
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.bob}, viewPage, w.p7)
			},
			still: authz.ReasonProjectGroup,
		},
		{
			name:  "revoke another permission",
			setup: grantKinds[2].grant,
			revoke: func(w *grantWorld) (bool, error) {
				return w.f.e.RevokeProjectPerm(w.f.ctx, authz.Holder{User: w.alice}, "projects.add_page", w.p7)
			},
			still: authz.ReasonProjectUser,
		},
		{
			name:   "remove a user from a group it is not in",
			setup:  grantKinds[3].grant,
			revoke: func(w *grantWorld) (bool, error) { return w.f.e.RemoveUserFromGroup(w.f.ctx, w.bob, w.editors) },
			still:  authz.ReasonProjectGroup,
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newGrantWorld(t, db)
				if tc.setup != nil {
					w.f.must(tc.setup(w))
				}
				if got, err := tc.revoke(w); err != nil || got {
					t.Errorf("revoke = %v, %v, want false, nil", got, err)
				}
				d, err := w.f.e.HasProjectPerm(w.f.ctx, w.alice, viewPage, w.p7)
				if err != nil || d.Reason != tc.still {
					t.Errorf("HasProjectPerm(alice, %s, p7) afterwards = %s, %v, want %s, nil", viewPage, d.Reason, err, tc.still)
				}
			})
		}
	})
}

// TestRevokeProjectPermKeepsOtherHolders: a project grant held by several
// users and groups loses one holder per revocation, and can be given again
// once the last holder is gone.
func TestRevokeProjectPermKeepsOtherHolders(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newGrantWorld(t, db)
		ctx, e := w.f.ctx, w.f.e
		carol := w.f.user("carol", true, false)
		readers := w.f.group("readers", carol)
		holders := []struct {
			name string
			h    authz.Holder
		}{
			{"alice", authz.Holder{User: w.alice}},
			{"bob", authz.Holder{User: w.bob}},
			{"readers", authz.Holder{Group: readers}},
		}
		for _, h := range holders {
			w.f.must(e.GrantProjectPerm(ctx, h.h, viewPage, w.p7))
		}
		listed := func() []string {
			t.Helper()
			page, err := e.UsersWithProjectPerm(ctx, viewPage, w.p7, authz.PageRequest{First: 10})
			w.f.must(err)
			return userSources(page.Users)
		}
		want := []string{"alice PROJECT_USER", "bob PROJECT_USER", "carol PROJECT_GROUP"}
		if diff := cmp.Diff(want, listed()); diff != "" {
			t.Fatalf("UsersWithProjectPerm(%s, p7) mismatch (-want +got):\n%s", viewPage, diff)
		}
		for i, h := range holders {
			if got, err := e.RevokeProjectPerm(ctx, h.h, viewPage, w.p7); err != nil || !got {
				t.Fatalf("RevokeProjectPerm(%s, %s, p7) = %v, %v, want true, nil", h.name, viewPage, got, err)
			}
			if diff := cmp.Diff(want[i+1:], listed()); diff != "" {
				t.Errorf("UsersWithProjectPerm(%s, p7) after revoking %s mismatch (-want +got):\n%s", viewPage, h.name, diff)
			}
		}
		w.f.must(e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, viewPage, w.p7))
		if diff := cmp.Diff([]string{"bob PROJECT_USER"}, listed()); diff != "" {
			t.Errorf("UsersWithProjectPerm(%s, p7) after granting again mismatch (-want +got):\n%s", viewPage, diff)
		}
	})
}

// TestGrantManagementErrors holds every change to its input checks: a
// grant names exactly one of user and group (ErrInvalidInput), ids that do
// not exist are ErrNotFound naming what is missing, taken names are
// ErrConflict, and permission names are checked as in a decision.
func TestGrantManagementErrors(t *testing.T) {
	const missing = 999999
	both := func(w *grantWorld) authz.Holder { return authz.Holder{User: w.alice, Group: w.editors} }
	neither := func(*grantWorld) authz.Holder { return authz.Holder{} }
	user := func(id int64) func(*grantWorld) authz.Holder {
		return func(*grantWorld) authz.Holder { return authz.Holder{User: id} }
	}
	group := func(id int64) func(*grantWorld) authz.Holder {
		return func(*grantWorld) authz.Holder { return authz.Holder{Group: id} }
	}
	alice := func(w *grantWorld) authz.Holder { return authz.Holder{User: w.alice} }
	// Each change, run against a holder, a permission and a project.
	type change func(w *grantWorld, h authz.Holder, perm string, project int64) error
	grantPerm := func(w *grantWorld, h authz.Holder, perm string, _ int64) error {
		return w.f.e.GrantPerm(w.f.ctx, h, perm)
	}
	revokePerm := func(w *grantWorld, h authz.Holder, perm string, _ int64) error {
		_, err := w.f.e.RevokePerm(w.f.ctx, h, perm)
		return err
	}
	grantProjectPerm := func(w *grantWorld, h authz.Holder, perm string, project int64) error {
		return w.f.e.GrantProjectPerm(w.f.ctx, h, perm, project)
	}
	revokeProjectPerm := func(w *grantWorld, h authz.Holder, perm string, project int64) error {
		_, err := w.f.e.RevokeProjectPerm(w.f.ctx, h, perm, project)
		return err
	}
	changes := []struct {
		name string
		do   change
	}{
		{"GrantPerm", grantPerm}, {"RevokePerm", revokePerm},
		{"GrantProjectPerm", grantProjectPerm}, {"RevokeProjectPerm", revokeProjectPerm},
	}
	type errCase struct {
		name string
		do   func(w *grantWorld) error
		err  error
		kind string // for ErrNotFound: the kind the *NotFoundError names
	}
	var cases []errCase
	for _, c := range changes {
		project := func(w *grantWorld) int64 { return w.p7 }
		for _, hc := range []struct {
			name   string
			holder func(*grantWorld) authz.Holder
			perm   string
			err    error
			kind   string
		}{
			{"both user and group", both, viewPage, authz.ErrInvalidInput, ""},
			{"neither user nor group", neither, viewPage, authz.ErrInvalidInput, ""},
			{"negative user id", user(-1), viewPage, authz.ErrInvalidInput, ""},
			{"unknown user", user(missing), viewPage, authz.ErrNotFound, "user"},
			{"unknown group", group(missing), viewPage, authz.ErrNotFound, "group"},
			{"unknown permission", alice, "projects.fly_page", authz.ErrUnknownPermission, ""},
			{"malformed permission", alice, "projects.View-Page", authz.ErrMalformedPermission, ""},
		} {
			cases = append(cases, errCase{
				name: c.name + ": " + hc.name,
				do:   func(w *grantWorld) error { return c.do(w, hc.holder(w), hc.perm, project(w)) },
				err:  hc.err, kind: hc.kind,
			})
		}
	}
	for _, c := range changes[2:] {
		cases = append(cases, errCase{
			name: c.name + ": unknown project",
			do:   func(w *grantWorld) error { return c.do(w, authz.Holder{User: w.alice}, viewPage, missing) },
			err:  authz.ErrNotFound, kind: "project",
		})
	}
	cases = append(cases,
		errCase{name: "AddUserToGroup: unknown user", err: authz.ErrNotFound, kind: "user",
			do: func(w *grantWorld) error { return w.f.e.AddUserToGroup(w.f.ctx, missing, w.editors) }},
		errCase{name: "AddUserToGroup: unknown group", err: authz.ErrNotFound, kind: "group",
			do: func(w *grantWorld) error { return w.f.e.AddUserToGroup(w.f.ctx, w.bob, missing) }},
		errCase{name: "AddUserToGroup: a member already", err: nil,
			do: func(w *grantWorld) error { return w.f.e.AddUserToGroup(w.f.ctx, w.alice, w.editors) }},
		errCase{name: "RemoveUserFromGroup: unknown user", err: authz.ErrNotFound, kind: "user",
			do: func(w *grantWorld) error {
				_, err := w.f.e.RemoveUserFromGroup(w.f.ctx, missing, w.editors)
				return err
			}},
		errCase{name: "RemoveUserFromGroup: unknown group", err: authz.ErrNotFound, kind: "group",
			do: func(w *grantWorld) error { _, err := w.f.e.RemoveUserFromGroup(w.f.ctx, w.alice, missing); return err }},
		errCase{name: "UpdateUser: unknown user", err: authz.ErrNotFound, kind: "user",
			do: func(w *grantWorld) error {
				yes := true
				_, err := w.f.e.UpdateUser(w.f.ctx, missing, &yes, nil)
				return err
			}},
		errCase{name: "CreateProject: unknown creator", err: authz.ErrNotFound, kind: "user",
			do: func(w *grantWorld) error { _, err := w.f.e.CreateProject(w.f.ctx, "nine", missing); return err }},
		errCase{name: "CreateUser: taken username", err: authz.ErrConflict,
			do: func(w *grantWorld) error { _, err := w.f.e.CreateUser(w.f.ctx, "alice", true, false); return err }},
		errCase{name: "CreateUser: empty username", err: authz.ErrInvalidInput,
			do: func(w *grantWorld) error { _, err := w.f.e.CreateUser(w.f.ctx, "", true, false); return err }},
		errCase{name: "CreateUser: username with a space", err: authz.ErrInvalidInput,
			do: func(w *grantWorld) error { _, err := w.f.e.CreateUser(w.f.ctx, "al ice", true, false); return err }},
		errCase{name: "CreateUser: username too long", err: authz.ErrInvalidInput,
			do: func(w *grantWorld) error {
				_, err := w.f.e.CreateUser(w.f.ctx, strings.Repeat("a", authz.MaxUsernameLen+1), true, false)
				return err
			}},
		errCase{name: "CreateGroup: taken name", err: authz.ErrConflict,
			do: func(w *grantWorld) error { _, err := w.f.e.CreateGroup(w.f.ctx, "editors"); return err }},
		errCase{name: "CreateGroup: blank name", err: authz.ErrInvalidInput,
			do: func(w *grantWorld) error { _, err := w.f.e.CreateGroup(w.f.ctx, "  "); return err }},
	)
	for _, d := range []struct {
		name string
		del  func(w *grantWorld) (bool, error)
	}{
		{"DeleteUser", func(w *grantWorld) (bool, error) { return w.f.e.DeleteUser(w.f.ctx, missing) }},
		{"DeleteGroup", func(w *grantWorld) (bool, error) { return w.f.e.DeleteGroup(w.f.ctx, missing) }},
		{"DeleteProject", func(w *grantWorld) (bool, error) { return w.f.e.DeleteProject(w.f.ctx, missing) }},
	} {
		cases = append(cases, errCase{name: d.name + ": unknown id answers false", err: nil,
			do: func(w *grantWorld) error {
				if ok, err := d.del(w); err != nil || ok {
					return fmt.Errorf("%s(%d) = %v, %v, want false, nil", d.name, missing, ok, err)
				}
				return nil
			}})
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newGrantWorld(t, db)
				err := tc.do(w)
				if !errors.Is(err, tc.err) {
					t.Fatalf("error = %v, want %v", err, tc.err)
				}
				if tc.kind != "" {
					var nf *authz.NotFoundError
					if !errors.As(err, &nf) || nf.Kind != tc.kind || nf.ID != missing {
						t.Errorf("error = %v, want a *NotFoundError for %s %d", err, tc.kind, missing)
					}
				}
				// A refused change leaves nothing behind: nobody holds
				// view_page in p7.
				users, err := w.f.e.UsersWithProjectPerm(w.f.ctx, viewPage, w.p7, authz.PageRequest{First: 10})
				w.f.must(err)
				if got := userSources(users.Users); len(got) != 0 {
					t.Errorf("UsersWithProjectPerm(%s, p7) after a refused change = %v, want none", viewPage, got)
				}
			})
		}
	})
}

// TestCreateProjectCreator: the creator of a project receives every
// permission of the projects app in it, and nothing elsewhere.
func TestCreateProjectCreator(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newGrantWorld(t, db)
		ctx, e := w.f.ctx, w.f.e
		p, err := e.CreateProject(ctx, "nine", w.bob)
		w.f.must(err)
		var want []string
		for _, perm := range builtinPerms {
			if strings.HasPrefix(perm, authz.CreatorAppLabel+".") {
				want = append(want, perm)
			}
		}
		for _, c := range []struct {
			user    string
			id      int64
			project int64
			want    []string
		}{
			{"bob", w.bob, p.ID, want},
			{"bob", w.bob, w.p7, []string{}},
			{"alice", w.alice, p.ID, []string{}},
		} {
			got, err := e.ProjectPermissions(ctx, c.id, c.project)
			if err != nil {
				t.Fatalf("ProjectPermissions(%s, %d) error = %v", c.user, c.project, err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("ProjectPermissions(%s, %d) mismatch (-want +got):\n%s", c.user, c.project, diff)
			}
		}
	})
}

package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// permIDs returns the registry's ids by app_label.codename.
func permIDs(t *testing.T, s *models.Store) map[string]int64 {
	t.Helper()
	ps, err := s.Permissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range ps {
		out[p.Key()] = p.ID
	}
	return out
}

// eventCmp compares events without their ids and times, which the test
// checks on their own.
var eventCmp = cmp.Options{cmpopts.IgnoreFields(authz.GrantEvent{}, "ID", "CreatedAt"), cmpopts.EquateEmpty()}

// TestGrantEvents runs every kind of write in turn, each as the admin, and
// checks the events it records: one per change, with the state before and
// after, and none for a write that changes nothing or fails.
func TestGrantEvents(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		s := models.NewStore(db)
		admin, _, err := s.CreateSuperuser(context.Background(), "admin")
		if err != nil {
			t.Fatal(err)
		}
		ctx := authz.WithActor(context.Background(), admin.ID)
		perms := permIDs(t, s)
		var (
			bob     authz.User
			devs    authz.Group
			project authz.Project
			rule    authz.StoredRule
		)
		// Ids the steps create are only known once they ran, so each
		// step's want is a function.
		type ev = authz.GrantEvent
		held := func(b bool) string { return fmt.Sprintf(`{"held":%t}`, b) }
		member := func(b bool) string { return fmt.Sprintf(`{"member":%t}`, b) }
		flags := func(active, super bool) string {
			return fmt.Sprintf(`{"isActive":%t,"isSuperuser":%t}`, active, super)
		}
		steps := []struct {
			name    string
			do      func() error
			want    func() []ev
			wantErr error
		}{
			{"create user", func() error {
				bob, err = s.CreateUser(ctx, authz.User{Username: "bob", IsActive: true})
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionCreateUser, User: bob.ID, After: `{"username":"bob","isActive":true,"isSuperuser":false}`}}
			}, nil},
			{"create user taken", func() error {
				_, err := s.CreateUser(ctx, authz.User{Username: "bob"})
				return err
			}, nil, authz.ErrConflict},
			{"create group", func() error {
				devs, err = s.CreateGroup(ctx, "devs")
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionCreateGroup, Group: devs.ID, After: `{"name":"devs"}`}}
			}, nil},
			{"create project", func() error {
				project, err = s.CreateProject(ctx, "apollo", bob.ID, []int64{perms["projects.view_page"], perms["projects.add_page"]})
				return err
			}, func() []ev {
				return []ev{
					{Action: authz.ActionCreateProject, User: bob.ID, Project: project.ID, After: `{"name":"apollo"}`},
					{Action: authz.ActionGrantProjectPerm, User: bob.ID, Project: project.ID, Perm: "projects.view_page", Before: held(false), After: held(true)},
					{Action: authz.ActionGrantProjectPerm, User: bob.ID, Project: project.ID, Perm: "projects.add_page", Before: held(false), After: held(true)},
				}
			}, nil},
			{"grant to user", func() error {
				return s.GrantPerm(ctx, authz.Holder{User: bob.ID}, perms["auth.view_user"])
			}, func() []ev {
				return []ev{{Action: authz.ActionGrantPerm, User: bob.ID, Perm: "auth.view_user", Before: held(false), After: held(true)}}
			}, nil},
			{"grant to user again", func() error {
				return s.GrantPerm(ctx, authz.Holder{User: bob.ID}, perms["auth.view_user"])
			}, nil, nil},
			{"grant to group", func() error {
				return s.GrantPerm(ctx, authz.Holder{Group: devs.ID}, perms["auth.view_group"])
			}, func() []ev {
				return []ev{{Action: authz.ActionGrantPerm, Group: devs.ID, Perm: "auth.view_group", Before: held(false), After: held(true)}}
			}, nil},
			{"grant to unknown user", func() error {
				return s.GrantPerm(ctx, authz.Holder{User: bob.ID + 100}, perms["auth.view_user"])
			}, nil, authz.ErrNotFound},
			{"grant unknown permission", func() error {
				return s.GrantPerm(ctx, authz.Holder{User: bob.ID}, 1<<40)
			}, nil, authz.ErrNotFound},
			{"revoke from user", func() error {
				_, err := s.RevokePerm(ctx, authz.Holder{User: bob.ID}, perms["auth.view_user"])
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionRevokePerm, User: bob.ID, Perm: "auth.view_user", Before: held(true), After: held(false)}}
			}, nil},
			{"revoke from user again", func() error {
				_, err := s.RevokePerm(ctx, authz.Holder{User: bob.ID}, perms["auth.view_user"])
				return err
			}, nil, nil},
			{"grant in project to group", func() error {
				return s.GrantProjectPerm(ctx, authz.Holder{Group: devs.ID}, perms["projects.manage_members"], project.ID)
			}, func() []ev {
				return []ev{{Action: authz.ActionGrantProjectPerm, Group: devs.ID, Project: project.ID, Perm: "projects.manage_members", Before: held(false), After: held(true)}}
			}, nil},
			{"grant in project to group again", func() error {
				return s.GrantProjectPerm(ctx, authz.Holder{Group: devs.ID}, perms["projects.manage_members"], project.ID)
			}, nil, nil},
			{"revoke in project from group", func() error {
				_, err := s.RevokeProjectPerm(ctx, authz.Holder{Group: devs.ID}, perms["projects.manage_members"], project.ID)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionRevokeProjectPerm, Group: devs.ID, Project: project.ID, Perm: "projects.manage_members", Before: held(true), After: held(false)}}
			}, nil},
			{"revoke in project from group again", func() error {
				_, err := s.RevokeProjectPerm(ctx, authz.Holder{Group: devs.ID}, perms["projects.manage_members"], project.ID)
				return err
			}, nil, nil},
			{"revoke in project what another holds", func() error {
				_, err := s.RevokeProjectPerm(ctx, authz.Holder{Group: devs.ID}, perms["projects.view_page"], project.ID)
				return err
			}, nil, nil},
			{"add to group", func() error { return s.AddUserToGroup(ctx, bob.ID, devs.ID) }, func() []ev {
				return []ev{{Action: authz.ActionAddUserToGroup, User: bob.ID, Group: devs.ID, Before: member(false), After: member(true)}}
			}, nil},
			{"add to group again", func() error { return s.AddUserToGroup(ctx, bob.ID, devs.ID) }, nil, nil},
			{"remove from group", func() error {
				_, err := s.RemoveUserFromGroup(ctx, bob.ID, devs.ID)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionRemoveUserFromGroup, User: bob.ID, Group: devs.ID, Before: member(true), After: member(false)}}
			}, nil},
			{"remove from group again", func() error {
				_, err := s.RemoveUserFromGroup(ctx, bob.ID, devs.ID)
				return err
			}, nil, nil},
			{"deactivate user", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, ptr(false), nil)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionUpdateUser, User: bob.ID, Before: flags(true, false), After: flags(false, false)}}
			}, nil},
			{"update user to what it is", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, ptr(false), ptr(false))
				return err
			}, nil, nil},
			{"update user with nothing", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, nil, nil)
				return err
			}, nil, nil},
			{"update both flags", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, ptr(true), ptr(true))
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionUpdateUser, User: bob.ID, Before: flags(false, false), After: flags(true, true)}}
			}, nil},
			{"create rule", func() error {
				rule, err = s.CreateRule(ctx, authz.StoredRule{Perm: "projects.delete_page", ObjectType: "Page", Expression: "!object.attributes.published"})
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionCreateRule, Perm: "projects.delete_page",
					After: fmt.Sprintf(`{"id":%d,"objectType":"Page","expression":"!object.attributes.published","description":""}`, rule.ID)}}
			}, nil},
			{"create rule twice", func() error {
				_, err := s.CreateRule(ctx, authz.StoredRule{Perm: "projects.delete_page", ObjectType: "Page", Expression: "true"})
				return err
			}, nil, authz.ErrConflict},
			{"delete rule", func() error {
				_, err := s.DeleteRule(ctx, rule.ID)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionDeleteRule, Perm: "projects.delete_page",
					Before: fmt.Sprintf(`{"id":%d,"objectType":"Page","expression":"!object.attributes.published","description":""}`, rule.ID)}}
			}, nil},
			{"delete rule again", func() error {
				_, err := s.DeleteRule(ctx, rule.ID)
				return err
			}, nil, nil},
			{"define permission", func() error {
				_, err := s.DefinePermission(ctx, authz.Permission{AppLabel: "docs", Codename: "sign_doc", Name: "Can sign doc"})
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionDefinePermission, Perm: "docs.sign_doc", After: `{"name":"Can sign doc"}`}}
			}, nil},
			{"delete group", func() error {
				_, err := s.DeleteGroup(ctx, devs.ID)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionDeleteGroup, Group: devs.ID, Before: `{"name":"devs"}`}}
			}, nil},
			{"delete group again", func() error {
				_, err := s.DeleteGroup(ctx, devs.ID)
				return err
			}, nil, nil},
			{"delete project", func() error {
				_, err := s.DeleteProject(ctx, project.ID)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionDeleteProject, Project: project.ID, Before: `{"name":"apollo"}`}}
			}, nil},
			{"delete project again", func() error {
				_, err := s.DeleteProject(ctx, project.ID)
				return err
			}, nil, nil},
			{"delete user", func() error {
				_, err := s.DeleteUser(ctx, bob.ID)
				return err
			}, func() []ev {
				return []ev{{Action: authz.ActionDeleteUser, User: bob.ID, Before: `{"username":"bob","isActive":true,"isSuperuser":true}`}}
			}, nil},
			{"delete user again", func() error {
				_, err := s.DeleteUser(ctx, bob.ID)
				return err
			}, nil, nil},
		}
		last := lastEventID(t, s)
		for _, step := range steps {
			err := step.do()
			if step.wantErr == nil && err != nil || step.wantErr != nil && !errors.Is(err, step.wantErr) {
				t.Fatalf("%s: error %v, want %v", step.name, err, step.wantErr)
			}
			got, err := s.GrantEvents(ctx, authz.GrantEventFilter{}, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			got = slices.DeleteFunc(got, func(e authz.GrantEvent) bool { return e.ID <= last })
			slices.Reverse(got) // oldest first, as recorded
			var want []ev
			if step.want != nil {
				want = step.want()
			}
			for i := range want {
				want[i].Actor = admin.ID
			}
			if diff := cmp.Diff(want, got, eventCmp); diff != "" {
				t.Errorf("%s: events mismatch (-want +got):\n%s", step.name, diff)
			}
			for _, e := range got {
				if e.CreatedAt.IsZero() || time.Since(e.CreatedAt).Abs() > time.Minute {
					t.Errorf("%s: event %d created at %v, want about now", step.name, e.ID, e.CreatedAt)
				}
				last = max(last, e.ID)
			}
		}
	})
}

func lastEventID(t *testing.T, s *models.Store) int64 {
	t.Helper()
	es, err := s.GrantEvents(context.Background(), authz.GrantEventFilter{}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return 0
	}
	return es[0].ID
}

// TestGrantEventActor: a write without an actor in its context (the
// command line's createsuperuser) is recorded with actor 0.
func TestGrantEventActor(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		root, _, err := s.CreateSuperuser(ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GrantEvents(ctx, authz.GrantEventFilter{}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []authz.GrantEvent{{Action: authz.ActionCreateUser, User: root.ID, After: `{"username":"root","isActive":true,"isSuperuser":true}`}}
		if diff := cmp.Diff(want, got, eventCmp); diff != "" {
			t.Errorf("events of createsuperuser mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestGrantEventSameTransaction: when the event cannot be written, the
// change it records is rolled back with it.
func TestGrantEventSameTransaction(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		u := mustUser(t, s, "frank")
		perm := permIDs(t, s)["auth.view_user"]
		dbtest.MustExec(t, db, "DROP TABLE grant_events")
		if err := s.GrantPerm(ctx, authz.Holder{User: u.ID}, perm); err == nil {
			t.Fatal("GrantPerm without a grant_events table succeeded, want an error")
		}
		if n := count(t, db, "SELECT COUNT(*) FROM user_permissions WHERE user_id = ?", u.ID); n != 0 {
			t.Errorf("user_permissions rows after a failed GrantPerm = %d, want 0", n)
		}
		if _, err := s.CreateUser(ctx, authz.User{Username: "grace"}); err == nil {
			t.Fatal("CreateUser without a grant_events table succeeded, want an error")
		}
		if _, err := s.UserByUsername(ctx, "grace"); !errors.Is(err, authz.ErrNotFound) {
			t.Errorf("UserByUsername(grace) after a failed CreateUser = %v, want ErrNotFound", err)
		}
	})
}

// TestGrantEventsFilter holds every filter and the keyset paging of
// GrantEvents to a reference filter over all events.
func TestGrantEventsFilter(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		s := models.NewStore(db)
		perms := permIDs(t, s)
		bg := context.Background()
		admin, _, err := s.CreateSuperuser(bg, "admin")
		if err != nil {
			t.Fatal(err)
		}
		as := authz.WithActor(bg, admin.ID)
		u1, u2 := mustUser(t, s, "u1"), mustUser(t, s, "u2")
		g, err := s.CreateGroup(as, "g")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.CreateProject(as, "p", u1.ID, []int64{perms["projects.view_page"]})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"auth.view_user", "auth.add_user", "auth.view_group"} {
			if err := s.GrantPerm(as, authz.Holder{User: u2.ID}, perms[key]); err != nil {
				t.Fatal(err)
			}
			if err := s.GrantProjectPerm(bg, authz.Holder{Group: g.ID}, perms[key], p.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddUserToGroup(as, u2.ID, g.ID); err != nil {
			t.Fatal(err)
		}
		all, err := s.GrantEvents(bg, authz.GrantEventFilter{}, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 13 {
			t.Fatalf("GrantEvents() = %d events, want 13", len(all))
		}
		mid := all[len(all)/2].CreatedAt
		for _, c := range []struct {
			name string
			f    authz.GrantEventFilter
			keep func(e authz.GrantEvent) bool
		}{
			{"none", authz.GrantEventFilter{}, func(authz.GrantEvent) bool { return true }},
			{"actor", authz.GrantEventFilter{Actor: &admin.ID}, func(e authz.GrantEvent) bool { return e.Actor == admin.ID }},
			{"no actor", authz.GrantEventFilter{Actor: ptr(int64(0))}, func(e authz.GrantEvent) bool { return e.Actor == 0 }},
			{"action", authz.GrantEventFilter{Action: ptr(authz.ActionGrantProjectPerm)}, func(e authz.GrantEvent) bool { return e.Action == authz.ActionGrantProjectPerm }},
			{"user", authz.GrantEventFilter{User: &u2.ID}, func(e authz.GrantEvent) bool { return e.User == u2.ID }},
			{"group", authz.GrantEventFilter{Group: &g.ID}, func(e authz.GrantEvent) bool { return e.Group == g.ID }},
			{"no group", authz.GrantEventFilter{Group: ptr(int64(0))}, func(e authz.GrantEvent) bool { return e.Group == 0 }},
			{"project", authz.GrantEventFilter{Project: &p.ID}, func(e authz.GrantEvent) bool { return e.Project == p.ID }},
			{"permission", authz.GrantEventFilter{Perm: ptr("auth.add_user")}, func(e authz.GrantEvent) bool { return e.Perm == "auth.add_user" }},
			{"since", authz.GrantEventFilter{Since: &mid}, func(e authz.GrantEvent) bool { return !e.CreatedAt.Before(mid) }},
			{"until", authz.GrantEventFilter{Until: &mid}, func(e authz.GrantEvent) bool { return e.CreatedAt.Before(mid) }},
			{"group and permission", authz.GrantEventFilter{Group: &g.ID, Perm: ptr("auth.view_group")}, func(e authz.GrantEvent) bool {
				return e.Group == g.ID && e.Perm == "auth.view_group"
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				want := slices.DeleteFunc(slices.Clone(all), func(e authz.GrantEvent) bool { return !c.keep(e) })
				if len(want) == 0 {
					t.Fatalf("the reference selects nothing for %s: the dataset does not exercise it", c.name)
				}
				for _, limit := range []int{1000, 2} {
					var got []authz.GrantEvent
					before := int64(0)
					for range len(all) + 1 {
						page, err := s.GrantEvents(bg, c.f, before, limit)
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, page...)
						if len(page) < limit {
							break
						}
						before = page[len(page)-1].ID
					}
					if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("GrantEvents(%s) by %d mismatch (-want +got):\n%s", c.name, limit, diff)
					}
				}
			})
		}
	})
}

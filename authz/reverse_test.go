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

// reverseWorld is the data of the reverse-question tests, every grant on
// projects.view_page:
//
//	alice  project user grant in p1 and p3; member of editors
//	bob    member of editors, which holds it in p2
//	carol  global user grant
//	dave   member of readers, which holds it globally
//	root   active superuser, with a global user grant as well
//	ivan   inactive, with a global user grant
//	ina    inactive superuser
//	eve    nothing
//	frank  global user grant, member of readers, project user grant in
//	       p1, member of writers, which holds it in p1 and p2
//	grace  member of editors and writers, both holding it in p2
type reverseWorld struct {
	f        *fixture
	users    map[string]int64
	groups   map[string]int64
	projects map[string]int64
}

var reverseUsers = []struct {
	name          string
	active, super bool
}{
	{"alice", true, false}, {"bob", true, false}, {"carol", true, false}, {"dave", true, false},
	{"root", true, true}, {"ivan", false, false}, {"ina", false, true}, {"eve", true, false},
	{"frank", true, false}, {"grace", true, false},
}

func newReverseWorld(t *testing.T, db *models.DB) *reverseWorld {
	t.Helper()
	for _, table := range []string{"users", "groups", "projects"} {
		dbtest.MustExec(t, db, "DELETE FROM "+table)
	}
	f := newFixture(t, db)
	w := &reverseWorld{f: f, users: map[string]int64{}, groups: map[string]int64{}, projects: map[string]int64{}}
	for _, u := range reverseUsers {
		w.users[u.name] = f.user(u.name, u.active, u.super)
	}
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("p%d", i)
		w.projects[name] = f.project(name)
	}
	u, p := w.users, w.projects
	editors := f.group("editors", u["alice"], u["bob"], u["grace"])
	readers := f.group("readers", u["dave"], u["frank"])
	writers := f.group("writers", u["frank"], u["grace"])
	w.groups = map[string]int64{"editors": editors, "readers": readers, "writers": writers}
	ctx, e := f.ctx, f.e
	for _, g := range []struct {
		h       authz.Holder
		project string // "": global
	}{
		{authz.Holder{User: u["alice"]}, "p1"},
		{authz.Holder{User: u["alice"]}, "p3"},
		{authz.Holder{Group: editors}, "p2"},
		{authz.Holder{User: u["carol"]}, ""},
		{authz.Holder{Group: readers}, ""},
		{authz.Holder{User: u["root"]}, ""},
		{authz.Holder{User: u["ivan"]}, ""},
		{authz.Holder{User: u["frank"]}, ""},
		{authz.Holder{User: u["frank"]}, "p1"},
		{authz.Holder{Group: writers}, "p1"},
		{authz.Holder{Group: writers}, "p2"},
	} {
		if g.project == "" {
			f.must(e.GrantPerm(ctx, g.h, viewPage))
		} else {
			f.must(e.GrantProjectPerm(ctx, g.h, viewPage, p[g.project]))
		}
	}
	return w
}

// id returns the id of a user or project of the world; "" is 0, and any
// other name not in the world is an id that does not exist.
func (w *reverseWorld) id(name string) int64 {
	if name == "" {
		return 0
	}
	if id, ok := w.users[name]; ok {
		return id
	}
	if id, ok := w.projects[name]; ok {
		return id
	}
	return 999999
}

func (w *reverseWorld) projectNames(ps []authz.Project) []string {
	names := []string{}
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names
}

// userSources renders each answer as "name SOURCE,SOURCE".
func userSources(us []authz.UserSources) []string {
	out := []string{}
	for _, u := range us {
		srcs := make([]string, len(u.Sources))
		for i, s := range u.Sources {
			srcs[i] = string(s)
		}
		out = append(out, u.User.Username+" "+strings.Join(srcs, ","))
	}
	return out
}

var allProjects = []string{"p1", "p2", "p3", "p4", "p5"}

// TestProjectsWithPerm holds ProjectsWithPerm and CountProjectsWithPerm to
// the reverse questions of docs/model.md on hand-built data.
func TestProjectsWithPerm(t *testing.T) {
	cases := []struct {
		name  string
		user  string // a name of the world, "" for anonymous, any other name for an unknown user
		perm  string
		first int
		after string // a project name, or "" for the start
		want  []string
		next  bool
		total int
		err   error
	}{
		{name: "project user and group grants", user: "alice", perm: viewPage, first: 10, want: []string{"p1", "p2", "p3"}, total: 3},
		{name: "first page", user: "alice", perm: viewPage, first: 2, want: []string{"p1", "p2"}, next: true, total: 3},
		{name: "last page", user: "alice", perm: viewPage, first: 2, after: "p2", want: []string{"p3"}, total: 3},
		{name: "page that ends with the list", user: "alice", perm: viewPage, first: 3, want: []string{"p1", "p2", "p3"}, total: 3},
		{name: "after the last one", user: "alice", perm: viewPage, first: 2, after: "p3", want: []string{}, total: 3},
		{name: "after a project not in the list", user: "alice", perm: viewPage, first: 1, after: "p2", want: []string{"p3"}, total: 3},
		{name: "project group grant", user: "bob", perm: viewPage, first: 10, want: []string{"p2"}, total: 1},
		{name: "two groups holding one grant list the project once", user: "grace", perm: viewPage, first: 10, want: []string{"p1", "p2"}, total: 2},
		{name: "global user grant: every project, first page", user: "carol", perm: viewPage, first: 2, want: []string{"p1", "p2"}, next: true, total: 5},
		{name: "global user grant: middle page", user: "carol", perm: viewPage, first: 2, after: "p2", want: []string{"p3", "p4"}, next: true, total: 5},
		{name: "global user grant: last page", user: "carol", perm: viewPage, first: 2, after: "p4", want: []string{"p5"}, total: 5},
		{name: "global group grant: every project", user: "dave", perm: viewPage, first: 10, want: allProjects, total: 5},
		{name: "every source at once", user: "frank", perm: viewPage, first: 10, want: allProjects, total: 5},
		{name: "superuser: every project", user: "root", perm: viewPage, first: 5, want: allProjects, total: 5},
		{name: "superuser: every project for a permission nobody holds", user: "root", perm: "auth.delete_user", first: 4, want: allProjects[:4], next: true, total: 5},
		{name: "largest page", user: "root", perm: viewPage, first: authz.MaxPageSize, want: allProjects, total: 5},
		{name: "inactive user with a global grant: none", user: "ivan", perm: viewPage, first: 10, want: []string{}, total: 0},
		{name: "inactive superuser: none", user: "ina", perm: viewPage, first: 10, want: []string{}, total: 0},
		{name: "no grant: none", user: "eve", perm: viewPage, first: 10, want: []string{}, total: 0},
		{name: "another permission: none", user: "alice", perm: "projects.add_page", first: 10, want: []string{}, total: 0},
		{name: "anonymous: none", user: "", perm: viewPage, first: 10, want: []string{}, total: 0},
		{name: "unknown user", user: "nobody", perm: viewPage, first: 10, err: authz.ErrNotFound},
		{name: "unknown permission", user: "alice", perm: "projects.fly_page", first: 10, err: authz.ErrUnknownPermission},
		{name: "malformed permission", user: "alice", perm: "projects.View-Page", first: 10, err: authz.ErrMalformedPermission},
		{name: "first 0", user: "alice", perm: viewPage, first: 0, err: authz.ErrInvalidInput},
		{name: "first 101", user: "alice", perm: viewPage, first: authz.MaxPageSize + 1, err: authz.ErrInvalidInput},
		{name: "negative after", user: "alice", perm: viewPage, first: 10, after: "-", err: authz.ErrInvalidInput},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newReverseWorld(t, db)
		ctx, e := w.f.ctx, w.f.e
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				user, after := w.id(tc.user), w.id(tc.after)
				if tc.after == "-" {
					after = -1
				}
				fn := fmt.Sprintf("ProjectsWithPerm(%s, %s, first %d after %s)", tc.user, tc.perm, tc.first, tc.after)
				page, err := e.ProjectsWithPerm(ctx, user, tc.perm, authz.PageRequest{First: tc.first, After: after})
				if !errors.Is(err, tc.err) {
					t.Fatalf("%s error = %v, want %v", fn, err, tc.err)
				}
				if tc.err == nil {
					if diff := cmp.Diff(tc.want, w.projectNames(page.Projects)); diff != "" {
						t.Errorf("%s mismatch (-want +got):\n%s", fn, diff)
					}
					if page.HasNextPage != tc.next {
						t.Errorf("%s HasNextPage = %v, want %v", fn, page.HasNextPage, tc.next)
					}
				}
				if errors.Is(tc.err, authz.ErrInvalidInput) {
					return // a page size says nothing about the count
				}
				n, err := e.CountProjectsWithPerm(ctx, user, tc.perm)
				if !errors.Is(err, tc.err) || n != tc.total {
					t.Errorf("CountProjectsWithPerm(%s, %s) = %d, %v, want %d, %v", tc.user, tc.perm, n, err, tc.total, tc.err)
				}
			})
		}
	})
}

// TestUsersWithProjectPerm holds UsersWithProjectPerm and
// CountUsersWithProjectPerm to docs/model.md's reverse questions on hand-built
// data: active users only, each with every source, SUPERUSER first.
func TestUsersWithProjectPerm(t *testing.T) {
	p1 := []string{
		"alice PROJECT_USER",
		"carol GLOBAL_USER",
		"dave GLOBAL_GROUP",
		"root SUPERUSER,GLOBAL_USER",
		"frank GLOBAL_USER,GLOBAL_GROUP,PROJECT_USER,PROJECT_GROUP",
		"grace PROJECT_GROUP",
	}
	cases := []struct {
		name    string
		perm    string
		project string // a project of the world; any other name is unknown
		first   int
		after   string // a user name, or "" for the start
		want    []string
		next    bool
		total   int
		err     error
	}{
		{name: "every source of every active holder", perm: viewPage, project: "p1", first: 10, want: p1, total: 6},
		{name: "first page", perm: viewPage, project: "p1", first: 2, want: p1[:2], next: true, total: 6},
		{name: "middle page", perm: viewPage, project: "p1", first: 2, after: "carol", want: p1[2:4], next: true, total: 6},
		{name: "last page", perm: viewPage, project: "p1", first: 2, after: "root", want: p1[4:], total: 6},
		{name: "after a user who is not listed", perm: viewPage, project: "p1", first: 3, after: "ivan", want: p1[4:], total: 6},
		{name: "a user in two groups holding one grant has the source once", perm: viewPage, project: "p2", first: 10, want: []string{
			"alice PROJECT_GROUP",
			"bob PROJECT_GROUP",
			"carol GLOBAL_USER",
			"dave GLOBAL_GROUP",
			"root SUPERUSER,GLOBAL_USER",
			"frank GLOBAL_USER,GLOBAL_GROUP,PROJECT_GROUP",
			"grace PROJECT_GROUP",
		}, total: 7},
		{name: "global holders in a project without project grants", perm: viewPage, project: "p4", first: 10, want: []string{
			"carol GLOBAL_USER",
			"dave GLOBAL_GROUP",
			"root SUPERUSER,GLOBAL_USER",
			"frank GLOBAL_USER,GLOBAL_GROUP",
		}, total: 4},
		{name: "a permission nobody holds: the active superuser alone", perm: "auth.delete_user", project: "p4", first: 1, want: []string{"root SUPERUSER"}, total: 1},
		{name: "largest page", perm: viewPage, project: "p1", first: authz.MaxPageSize, want: p1, total: 6},
		{name: "unknown project", perm: viewPage, project: "p9", first: 10, err: authz.ErrNotFound},
		{name: "unknown permission", perm: "projects.fly_page", project: "p1", first: 10, err: authz.ErrUnknownPermission},
		{name: "first 0", perm: viewPage, project: "p1", first: 0, err: authz.ErrInvalidInput},
		{name: "first 101", perm: viewPage, project: "p1", first: authz.MaxPageSize + 1, err: authz.ErrInvalidInput},
		{name: "negative after", perm: viewPage, project: "p1", first: 10, after: "-", err: authz.ErrInvalidInput},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newReverseWorld(t, db)
		ctx, e := w.f.ctx, w.f.e
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				project, after := w.id(tc.project), w.id(tc.after)
				if tc.after == "-" {
					after = -1
				}
				fn := fmt.Sprintf("UsersWithProjectPerm(%s, %s, first %d after %s)", tc.perm, tc.project, tc.first, tc.after)
				page, err := e.UsersWithProjectPerm(ctx, tc.perm, project, authz.PageRequest{First: tc.first, After: after})
				if !errors.Is(err, tc.err) {
					t.Fatalf("%s error = %v, want %v", fn, err, tc.err)
				}
				if tc.err == nil {
					if diff := cmp.Diff(tc.want, userSources(page.Users)); diff != "" {
						t.Errorf("%s mismatch (-want +got):\n%s", fn, diff)
					}
					if page.HasNextPage != tc.next {
						t.Errorf("%s HasNextPage = %v, want %v", fn, page.HasNextPage, tc.next)
					}
					for _, u := range page.Users {
						if !u.User.IsActive || u.User.ID != w.users[u.User.Username] {
							t.Errorf("%s listed %+v, want an active user of the world", fn, u.User)
						}
					}
				}
				if errors.Is(tc.err, authz.ErrInvalidInput) {
					return
				}
				n, err := e.CountUsersWithProjectPerm(ctx, tc.perm, project)
				if !errors.Is(err, tc.err) || n != tc.total {
					t.Errorf("CountUsersWithProjectPerm(%s, %s) = %d, %v, want %d, %v", tc.perm, tc.project, n, err, tc.total, tc.err)
				}
			})
		}
	})
}

// TestReverseAfterChanges holds the reverse questions to docs/model.md's
// lifecycle: a deleted project is no longer listed and is NOT_FOUND, a
// deactivated user is no longer listed, and leaving a group takes its
// source away at once.
func TestReverseAfterChanges(t *testing.T) {
	cases := []struct {
		name     string
		change   func(w *reverseWorld) error
		user     string // ProjectsWithPerm(user, view_page)
		projects []string
		project  string // UsersWithProjectPerm(view_page, project)
		users    []string
		err      error // of UsersWithProjectPerm
	}{
		{
			name: "deleted project",
			change: func(w *reverseWorld) error {
				_, err := w.f.e.DeleteProject(w.f.ctx, w.projects["p1"])
				return err
			},
			user: "alice", projects: []string{"p2", "p3"},
			project: "p1", err: authz.ErrNotFound,
		},
		{
			name: "deactivated user",
			change: func(w *reverseWorld) error {
				inactive := false
				_, err := w.f.e.UpdateUser(w.f.ctx, w.users["carol"], &inactive, nil)
				return err
			},
			user: "carol", projects: []string{},
			project: "p4", users: []string{"dave GLOBAL_GROUP", "root SUPERUSER,GLOBAL_USER", "frank GLOBAL_USER,GLOBAL_GROUP"},
		},
		{
			name: "superuser flag removed",
			change: func(w *reverseWorld) error {
				no := false
				_, err := w.f.e.UpdateUser(w.f.ctx, w.users["root"], nil, &no)
				return err
			},
			user: "root", projects: allProjects,
			project: "p4", users: []string{"carol GLOBAL_USER", "dave GLOBAL_GROUP", "root GLOBAL_USER", "frank GLOBAL_USER,GLOBAL_GROUP"},
		},
		{
			name: "left the group that gave everything",
			change: func(w *reverseWorld) error {
				_, err := w.f.e.RemoveUserFromGroup(w.f.ctx, w.users["dave"], w.groups["readers"])
				return err
			},
			user: "dave", projects: []string{},
			project: "p4", users: []string{"carol GLOBAL_USER", "root SUPERUSER,GLOBAL_USER", "frank GLOBAL_USER,GLOBAL_GROUP"},
		},
		{
			name: "left one of two groups",
			change: func(w *reverseWorld) error {
				_, err := w.f.e.RemoveUserFromGroup(w.f.ctx, w.users["grace"], w.groups["editors"])
				if err != nil {
					return err
				}
				_, err = w.f.e.RemoveUserFromGroup(w.f.ctx, w.users["frank"], w.groups["writers"])
				return err
			},
			user: "grace", projects: []string{"p1", "p2"},
			project: "p1", users: []string{"alice PROJECT_USER", "carol GLOBAL_USER", "dave GLOBAL_GROUP",
				"root SUPERUSER,GLOBAL_USER", "frank GLOBAL_USER,GLOBAL_GROUP,PROJECT_USER", "grace PROJECT_GROUP"},
		},
		{
			name: "deleted user",
			change: func(w *reverseWorld) error {
				_, err := w.f.e.DeleteUser(w.f.ctx, w.users["frank"])
				return err
			},
			user: "grace", projects: []string{"p1", "p2"},
			project: "p1", users: []string{"alice PROJECT_USER", "carol GLOBAL_USER", "dave GLOBAL_GROUP", "root SUPERUSER,GLOBAL_USER", "grace PROJECT_GROUP"},
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newReverseWorld(t, db)
				ctx, e := w.f.ctx, w.f.e
				if err := tc.change(w); err != nil {
					t.Fatal(err)
				}
				page, err := e.ProjectsWithPerm(ctx, w.users[tc.user], viewPage, authz.PageRequest{First: 10})
				if err != nil {
					t.Fatalf("ProjectsWithPerm(%s, %s) error = %v", tc.user, viewPage, err)
				}
				if diff := cmp.Diff(tc.projects, w.projectNames(page.Projects)); diff != "" {
					t.Errorf("ProjectsWithPerm(%s, %s) mismatch (-want +got):\n%s", tc.user, viewPage, diff)
				}
				if n, err := e.CountProjectsWithPerm(ctx, w.users[tc.user], viewPage); err != nil || n != len(tc.projects) {
					t.Errorf("CountProjectsWithPerm(%s, %s) = %d, %v, want %d, nil", tc.user, viewPage, n, err, len(tc.projects))
				}
				users, err := e.UsersWithProjectPerm(ctx, viewPage, w.projects[tc.project], authz.PageRequest{First: 10})
				if !errors.Is(err, tc.err) {
					t.Fatalf("UsersWithProjectPerm(%s, %s) error = %v, want %v", viewPage, tc.project, err, tc.err)
				}
				n, cerr := e.CountUsersWithProjectPerm(ctx, viewPage, w.projects[tc.project])
				if !errors.Is(cerr, tc.err) || n != len(tc.users) {
					t.Errorf("CountUsersWithProjectPerm(%s, %s) = %d, %v, want %d, %v", viewPage, tc.project, n, cerr, len(tc.users), tc.err)
				}
				if tc.err != nil {
					return
				}
				if diff := cmp.Diff(tc.users, userSources(users.Users)); diff != "" {
					t.Errorf("UsersWithProjectPerm(%s, %s) mismatch (-want +got):\n%s", viewPage, tc.project, diff)
				}
			})
		}
	})
}

package authz_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// statementWorld is the data of TestStatementBudgets, built through the
// engine's public API: a user who holds permissions from all four sources,
// so that every branch of every statement has rows to return.
type statementWorld struct {
	e        *authz.Engine
	alice    int64   // active; global user and group grants; project user and group grants
	bob      int64   // active; member of one of alice's groups
	projects []int64 // statementProjects of them; alice holds something in each
}

// statementProjects is K of "CheckMany over K projects": enough that a
// statement per project would stand out.
const statementProjects = 20

func newStatementWorld(t *testing.T, db *models.DB) *statementWorld {
	t.Helper()
	ctx := context.Background()
	e := authz.NewEngine(models.NewStore(db))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	w := &statementWorld{e: e}
	alice, err := e.CreateUser(ctx, "alice", true, false)
	must(err)
	bob, err := e.CreateUser(ctx, "bob", true, false)
	must(err)
	w.alice, w.bob = alice.ID, bob.ID
	editors, err := e.CreateGroup(ctx, "editors")
	must(err)
	readers, err := e.CreateGroup(ctx, "readers")
	must(err)
	must(e.AddUserToGroup(ctx, w.alice, editors.ID))
	must(e.AddUserToGroup(ctx, w.alice, readers.ID))
	must(e.AddUserToGroup(ctx, w.bob, readers.ID))
	must(e.GrantPerm(ctx, authz.Holder{User: w.alice}, "auth.view_user"))
	must(e.GrantPerm(ctx, authz.Holder{Group: editors.ID}, "auth.view_group"))
	for i := range statementProjects {
		p, err := e.CreateProject(ctx, fmt.Sprintf("project %d", i), 0)
		must(err)
		w.projects = append(w.projects, p.ID)
		must(e.GrantProjectPerm(ctx, authz.Holder{User: w.alice}, "projects.change_page", p.ID))
		must(e.GrantProjectPerm(ctx, authz.Holder{Group: readers.ID}, "projects.view_page", p.ID))
		if i%2 == 0 {
			must(e.GrantProjectPerm(ctx, authz.Holder{Group: editors.ID}, "projects.publish_page", p.ID))
		}
	}
	return w
}

// TestStatementBudgets holds each question to its SQL statement budget on
// both dialects: one statement for a cold check or reverse question,
// whatever the number of projects, and none for a check the request cache
// already answers. A failure means a question started looping or lost its
// cache, which costs a round trip per item in production.
func TestStatementBudgets(t *testing.T) {
	cases := []struct {
		name   string
		budget int64
		// run asks the question; ctx counts statements and may carry a
		// request cache that run prepares before the counter is reset.
		run func(t *testing.T, ctx context.Context, w *statementWorld, counter *models.StatementCounter) error
	}{
		{
			name: "cold HasProjectPerm", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				d, err := w.e.HasProjectPerm(ctx, w.alice, "projects.view_page", w.projects[0])
				if err == nil && !d.Allowed {
					t.Errorf("HasProjectPerm(alice, view_page, %d) = %+v, want allowed", w.projects[0], d)
				}
				return err
			},
		},
		{
			name: "cold HasPerm", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				d, err := w.e.HasPerm(ctx, w.alice, "auth.view_group")
				if err == nil && !d.Allowed {
					t.Errorf("HasPerm(alice, auth.view_group) = %+v, want allowed", d)
				}
				return err
			},
		},
		{
			name: "cold ProjectPermissions", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				perms, err := w.e.ProjectPermissions(ctx, w.alice, w.projects[0])
				if err == nil && len(perms) != 5 {
					t.Errorf("ProjectPermissions(alice, %d) = %v, want 5 permissions", w.projects[0], perms)
				}
				return err
			},
		},
		{
			name: fmt.Sprintf("cold CheckMany over %d projects", statementProjects), budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				reqs := make([]authz.CheckRequest, 0, 2*len(w.projects))
				for _, p := range w.projects {
					reqs = append(reqs, authz.CheckRequest{Perm: "projects.change_page", Project: p},
						authz.CheckRequest{Perm: "projects.publish_page", Project: p})
				}
				ds, err := w.e.CheckMany(ctx, w.alice, reqs)
				if err == nil && len(ds) != len(reqs) {
					t.Errorf("CheckMany(alice, %d requests) returned %d decisions", len(reqs), len(ds))
				}
				return err
			},
		},
		{
			name: "ProjectsWithPerm", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				page, err := w.e.ProjectsWithPerm(ctx, w.alice, "projects.publish_page", authz.PageRequest{First: 5})
				if err == nil && (len(page.Projects) != 5 || !page.HasNextPage) {
					t.Errorf("ProjectsWithPerm(alice, publish_page, first 5) = %d projects, hasNextPage %v, want 5, true",
						len(page.Projects), page.HasNextPage)
				}
				return err
			},
		},
		{
			name: "CountProjectsWithPerm", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				n, err := w.e.CountProjectsWithPerm(ctx, w.alice, "projects.publish_page")
				if err == nil && n != statementProjects/2 {
					t.Errorf("CountProjectsWithPerm(alice, publish_page) = %d, want %d", n, statementProjects/2)
				}
				return err
			},
		},
		{
			name: "UsersWithProjectPerm", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				page, err := w.e.UsersWithProjectPerm(ctx, "projects.view_page", w.projects[0], authz.PageRequest{First: 10})
				if err == nil && len(page.Users) != 2 {
					t.Errorf("UsersWithProjectPerm(view_page, %d) = %d users, want 2", w.projects[0], len(page.Users))
				}
				return err
			},
		},
		{
			name: "CountUsersWithProjectPerm", budget: 1,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, _ *models.StatementCounter) error {
				n, err := w.e.CountUsersWithProjectPerm(ctx, "projects.view_page", w.projects[0])
				if err == nil && n != 2 {
					t.Errorf("CountUsersWithProjectPerm(view_page, %d) = %d, want 2", w.projects[0], n)
				}
				return err
			},
		},
		{
			name: "warm HasProjectPerm", budget: 0,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, counter *models.StatementCounter) error {
				ctx = authz.WithRequestCache(ctx)
				if _, err := w.e.HasProjectPerm(ctx, w.alice, "projects.view_page", w.projects[0]); err != nil {
					return err
				}
				counter.Reset() // the first check was cold; only the second is measured
				d, err := w.e.HasProjectPerm(ctx, w.alice, "projects.change_page", w.projects[0])
				if err == nil && !d.Allowed {
					t.Errorf("warm HasProjectPerm(alice, change_page, %d) = %+v, want allowed", w.projects[0], d)
				}
				return err
			},
		},
		{
			name: "warm CheckMany over projects already loaded", budget: 0,
			run: func(t *testing.T, ctx context.Context, w *statementWorld, counter *models.StatementCounter) error {
				ctx = authz.WithRequestCache(ctx)
				if _, err := w.e.ProjectPermissions(ctx, w.alice, w.projects[1]); err != nil {
					return err
				}
				if _, err := w.e.HasProjectPerm(ctx, w.alice, "projects.view_page", w.projects[2]); err != nil {
					return err
				}
				counter.Reset()
				_, err := w.e.CheckMany(ctx, w.alice, []authz.CheckRequest{
					{Perm: "projects.view_page", Project: w.projects[1]},
					{Perm: "projects.publish_page", Project: w.projects[2]},
					{Perm: "auth.view_user"},
				})
				return err
			},
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newStatementWorld(t, db)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				// Warm the permission registry first: it loads once per
				// engine, not once per question, so its statement belongs
				// to no question's budget.
				if err := w.e.Registry().Refresh(ctx); err != nil {
					t.Fatal(err)
				}
				counter := &models.StatementCounter{}
				if err := tc.run(t, counter.WithCounting(ctx), w, counter); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if got := counter.Count(); got != tc.budget {
					t.Errorf("%s ran %d SQL statements, want %d", tc.name, got, tc.budget)
				}
			})
		}
	})
}

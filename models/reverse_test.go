package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestReverseCreatedAt is a regression test: on SQLite the created_at
// column of the reverse questions' UNION ALL carries no declared type, so
// the driver returns it as text, which a sql.NullTime refused.
func TestReverseCreatedAt(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		e := authz.NewEngine(models.NewStore(db))
		u, err := e.CreateUser(ctx, "alice", true, false)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.CreateProject(ctx, "seven", u.ID)
		if err != nil {
			t.Fatal(err)
		}
		near := func(got, want time.Time) bool { return got.Sub(want).Abs() < time.Second }

		projects, err := e.ProjectsWithPerm(ctx, u.ID, "projects.view_page", authz.PageRequest{First: 10})
		if err != nil {
			t.Fatalf("ProjectsWithPerm(alice, view_page): %v", err)
		}
		if len(projects.Projects) != 1 || !near(projects.Projects[0].CreatedAt, p.CreatedAt) {
			t.Errorf("ProjectsWithPerm(alice, view_page) = %+v, want project %d created at %v", projects.Projects, p.ID, p.CreatedAt)
		}
		users, err := e.UsersWithProjectPerm(ctx, "projects.view_page", p.ID, authz.PageRequest{First: 10})
		if err != nil {
			t.Fatalf("UsersWithProjectPerm(view_page, %d): %v", p.ID, err)
		}
		if len(users.Users) != 1 || !near(users.Users[0].User.CreatedAt, u.CreatedAt) {
			t.Errorf("UsersWithProjectPerm(view_page, %d) = %+v, want alice created at %v", p.ID, users.Users, u.CreatedAt)
		}
	})
}

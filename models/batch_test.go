package models_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestProjectPagesBatch: the batched loads answer, project by project,
// what the single-project loads answer.
func TestProjectPagesBatch(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		e := authz.NewEngine(s)
		u, err := e.CreateUser(ctx, "author", true, false)
		if err != nil {
			t.Fatal(err)
		}
		var projects []int64
		for i, n := range []int{0, 2, 5, 7} {
			p, err := e.CreateProject(ctx, fmt.Sprintf("p%d", i), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			projects = append(projects, p.ID)
			for j := range n {
				if _, err := e.CreatePage(ctx, authz.Page{ProjectID: p.ID, Title: fmt.Sprintf("%d-%d", i, j), AuthorID: u.ID}); err != nil {
					t.Fatal(err)
				}
			}
		}
		all, err := s.ProjectPages(ctx, projects[3], 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range []int64{0, all[2].ID} {
			for _, limit := range []int{1, 3, 8} {
				got, err := s.ProjectPagesBatch(ctx, projects, after, limit)
				if err != nil {
					t.Fatalf("ProjectPagesBatch(%v, %d, %d): %v", projects, after, limit, err)
				}
				for _, p := range projects {
					want, err := s.ProjectPages(ctx, p, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(got[p]) != fmt.Sprint(want) && (len(got[p]) != 0 || len(want) != 0) {
						t.Errorf("ProjectPagesBatch(after %d, limit %d)[%d] = %v, want %v", after, limit, p, got[p], want)
					}
				}
			}
		}
		counts, err := s.CountProjectPagesBatch(ctx, projects)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range projects {
			want, err := s.CountProjectPages(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if counts[p] != want {
				t.Errorf("CountProjectPagesBatch[%d] = %d, want %d", p, counts[p], want)
			}
		}
		users, err := s.UsersByID(ctx, []int64{u.ID, u.ID + 1000})
		if err != nil {
			t.Fatal(err)
		}
		one, err := s.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || fmt.Sprint(users[u.ID]) != fmt.Sprint(one) {
			t.Errorf("UsersByID(%d, %d) = %v, want just %v", u.ID, u.ID+1000, users, one)
		}
	})
}

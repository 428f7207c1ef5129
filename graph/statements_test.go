package graph_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// Sizes of the guarded list of the statement budget (SPEC §4, issue 5):
// 1,000 pages spread over 100 projects, 10 each. 100 projects is one full
// page of Query.projects, so the list spans as many projects as a request
// can.
const (
	listProjects      = 100
	pagesPerProject   = 10
	maxPermStatements = 3 // the budget: independent of the number of projects and pages
)

// guardedListQuery lists every project with its permissions and its pages,
// each page with every guarded field.
var guardedListQuery = fmt.Sprintf(`{ projects(first: %d) { edges { node { id viewerPermissions
	viewerCan(perm: "projects.change_page")
	pages(first: %d) { edges { node { id title body createdAt } } } } } } }`, listProjects, pagesPerProject)

// guardedList is the answer to guardedListQuery.
type guardedList struct {
	Projects struct {
		Edges []struct {
			Node struct {
				ID                string
				ViewerPermissions []string
				ViewerCan         bool
				Pages             *struct {
					Edges []struct {
						Node struct {
							ID, Title, Body, CreatedAt *string
						}
					}
				}
			}
		}
	}
}

// mustGuardedList makes listProjects projects of pagesPerProject pages
// each, and a user who holds projects.view_project and projects.view_page
// in all of them, and returns that user.
func (h *harness) mustGuardedList(t *testing.T) actor {
	t.Helper()
	v := h.mustUser(t, "lister")
	for i := range listProjects {
		p := h.mustProject(t, fmt.Sprintf("list%03d", i))
		h.grantProject(t, authz.Holder{User: v.ID}, p.ID, authz.PermViewProject, authz.PermViewPage)
		for j := range pagesPerProject {
			h.mustPage(t, p.ID, fmt.Sprintf("page %03d-%02d", i, j))
		}
	}
	return v
}

// counted returns a client whose requests (authentication included) count
// their statements in c.
func (h *harness) counted(c *models.StatementCounter, token string) *client.Client {
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mux.ServeHTTP(w, r.WithContext(c.WithCounting(r.Context())))
	})
	return client.New(counting, client.Path("/graphql"), client.AddHeader("Authorization", "Bearer "+token))
}

// TestGuardedListStatements: one request listing 1,000 pages over 100
// projects, every page with four guarded fields and every project with
// viewerPermissions and viewerCan (false: the viewer may not change
// pages), runs at most maxPermStatements statements that read grants,
// whether the fields are allowed or, for half of the projects, denied.
func TestGuardedListStatements(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		v := h.mustGuardedList(t)

		t.Run("all allowed", func(t *testing.T) {
			c := &models.StatementCounter{}
			res := h.doWith(t, h.counted(c, v.Token), guardedListQuery)
			if len(res.Errors) != 0 {
				t.Fatalf("guarded list = %d errors, first %+v; want none", len(res.Errors), res.Errors[0])
			}
			var got guardedList
			if err := json.Unmarshal(res.Data, &got); err != nil {
				t.Fatal(err)
			}
			titles := 0
			for _, e := range got.Projects.Edges {
				n := e.Node
				if len(n.ViewerPermissions) != 2 || n.ViewerCan || n.Pages == nil {
					t.Fatalf("project %s = %v, %v, %v; want view_page and view_project, false and its pages", n.ID, n.ViewerPermissions, n.ViewerCan, n.Pages)
				}
				for _, pe := range n.Pages.Edges {
					if p := pe.Node; p.Title != nil && p.Body != nil && p.CreatedAt != nil {
						titles++
					}
				}
			}
			if len(got.Projects.Edges) != listProjects || titles != listProjects*pagesPerProject {
				t.Errorf("guarded list = %d projects, %d pages with their fields; want %d, %d",
					len(got.Projects.Edges), titles, listProjects, listProjects*pagesPerProject)
			}
			t.Logf("%s: %d statements, %d of them for permissions", db.Dialect, c.Count(), c.Permissions())
			if c.Permissions() > maxPermStatements {
				t.Errorf("guarded list of %d pages ran %d permission statements, want at most %d", titles, c.Permissions(), maxPermStatements)
			}
		})

		t.Run("Query.pages", func(t *testing.T) {
			// 100 pages over 10 projects, filtered in the database; their
			// guarded fields answer from the resolver's prefetch.
			c := &models.StatementCounter{}
			q := `{ pages(first: 100) { totalCount edges { node { title body createdAt project { id } } } } }`
			res := h.doWith(t, h.counted(c, v.Token), q)
			var got struct {
				Pages struct {
					TotalCount int
					Edges      []struct{ Node struct{ Title *string } }
				}
			}
			if err := json.Unmarshal(res.Data, &got); err != nil {
				t.Fatal(err)
			}
			if len(res.Errors) != 0 || got.Pages.TotalCount != listProjects*pagesPerProject || len(got.Pages.Edges) != 100 || got.Pages.Edges[99].Node.Title == nil {
				t.Errorf("%s = %d errors, totalCount %d, %d edges; want none, %d, 100 with titles", q, len(res.Errors), got.Pages.TotalCount, len(got.Pages.Edges), listProjects*pagesPerProject)
			}
			t.Logf("%s: %d statements, %d of them for permissions", db.Dialect, c.Count(), c.Permissions())
			if c.Permissions() > maxPermStatements {
				t.Errorf("%s ran %d permission statements, want at most %d", q, c.Permissions(), maxPermStatements)
			}
		})

		t.Run("half denied", func(t *testing.T) {
			// w may view every project, and the pages of every other one.
			w := h.mustUser(t, "half")
			page := h.listedProjects(t, v)
			for i, p := range page {
				perms := []string{authz.PermViewProject}
				if i%2 == 1 {
					perms = append(perms, authz.PermViewPage)
				}
				h.grantProject(t, authz.Holder{User: w.ID}, p, perms...)
			}
			c := &models.StatementCounter{}
			res := h.doWith(t, h.counted(c, w.Token), guardedListQuery)
			var got guardedList
			if err := json.Unmarshal(res.Data, &got); err != nil {
				t.Fatal(err)
			}
			shown := 0
			for _, e := range got.Projects.Edges {
				if e.Node.Pages != nil {
					shown += len(e.Node.Pages.Edges)
				}
			}
			if len(res.Errors) != listProjects/2 || shown != listProjects/2*pagesPerProject {
				t.Errorf("half-denied list = %d errors, %d pages; want %d, %d", len(res.Errors), shown, listProjects/2, listProjects/2*pagesPerProject)
			}
			for _, e := range res.Errors {
				if e.code() != "FORBIDDEN" {
					t.Fatalf("half-denied list: error %+v, want FORBIDDEN", e)
				}
			}
			t.Logf("%s: %d statements, %d of them for permissions", db.Dialect, c.Count(), c.Permissions())
			if c.Permissions() > maxPermStatements {
				t.Errorf("half-denied list ran %d permission statements, want at most %d", c.Permissions(), maxPermStatements)
			}
		})
	})
}

// listedProjects returns the ids of the projects v lists.
func (h *harness) listedProjects(t *testing.T, v actor) []int64 {
	t.Helper()
	page, err := h.engine.ProjectsWithPerm(h.ctx, v.ID, authz.PermViewProject, authz.PageRequest{First: listProjects})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(page.Projects))
	for i, p := range page.Projects {
		ids[i] = p.ID
	}
	return ids
}

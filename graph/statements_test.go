package graph_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// Sizes of the guarded list of the statement budget (README, Start; docs/api.md, Who may see what):
// 1,000 pages spread over 100 projects, 10 each. 100 projects is one full
// page of Query.projects, so the list spans as many projects as a request
// can.
const (
	listProjects    = 100
	pagesPerProject = 10
	// maxPermStatements is the budget of statements that read grants,
	// independent of the number of projects and pages; the token lookup
	// is one of them, since it also reads the viewer's global grants.
	maxPermStatements = 4
	// maxStatements bounds every statement of the request, the token
	// lookup included: the pages of all the listed projects load with one
	// statement, and so do their counts.
	maxStatements = 6
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
			if c.Count() > maxStatements {
				t.Errorf("guarded list of %d pages ran %d statements, want at most %d", titles, c.Count(), maxStatements)
			}
		})

		t.Run("paginated", func(t *testing.T) {
			// Every project's pages, 3 at a time, through the batch: first
			// from the start, then after a cursor in the middle of one
			// project, which every project's list shares.
			pids := h.listedProjects(t, v)
			want := make(map[string][]authz.Page, len(pids))
			for _, pid := range pids {
				pages, err := h.store.ProjectPages(h.ctx, pid, 0, pagesPerProject+1)
				if err != nil {
					t.Fatal(err)
				}
				want[strconv.FormatInt(pid, 10)] = pages
			}
			mid := want[strconv.FormatInt(pids[len(pids)/2], 10)][4].ID
			for _, after := range []int64{0, mid} {
				c := &models.StatementCounter{}
				res := h.doWith(t, h.counted(c, v.Token), paginatedListQuery, "after", pageCursor(after))
				if len(res.Errors) != 0 {
					t.Fatalf("paginated list after %d = %d errors, first %+v; want none", after, len(res.Errors), res.Errors[0])
				}
				var got paginatedList
				if err := json.Unmarshal(res.Data, &got); err != nil {
					t.Fatal(err)
				}
				if len(got.Projects.Edges) != listProjects {
					t.Fatalf("paginated list after %d = %d projects, want %d", after, len(got.Projects.Edges), listProjects)
				}
				for _, e := range got.Projects.Edges {
					checkProjectPages(t, e.Node.ID, after, e.Node.Pages, want[e.Node.ID])
				}
				t.Logf("%s: after %d: %d statements, %d of them for permissions", db.Dialect, after, c.Count(), c.Permissions())
				if c.Count() > maxStatements {
					t.Errorf("paginated list after %d ran %d statements, want at most %d", after, c.Count(), maxStatements)
				}
			}
		})

		t.Run("Query.pages", func(t *testing.T) {
			// 100 pages over 10 projects, filtered in the database; their
			// guarded fields answer from the resolver's prefetch.
			c := &models.StatementCounter{}
			q := `{ pages(first: 100) { totalCount edges { node { title body createdAt project { id } author { id } } } } }`
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
			if c.Count() > maxStatements {
				t.Errorf("%s ran %d statements, want at most %d", q, c.Count(), maxStatements)
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
			if c.Count() > maxStatements {
				t.Errorf("half-denied list ran %d statements, want at most %d", c.Count(), maxStatements)
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

// paginatedListQuery lists every project with 3 of its pages after a
// cursor, their count and their pageInfo.
var paginatedListQuery = fmt.Sprintf(`query($after: String) { projects(first: %d) { edges { node { id
	pages(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor }
	edges { cursor node { id title } } } } } } }`, listProjects)

// projectPages is a project's pages in paginatedList.
type projectPages struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
	Edges []struct {
		Cursor string
		Node   struct{ ID, Title string }
	}
}

// paginatedList is the answer to paginatedListQuery.
type paginatedList struct {
	Projects struct {
		Edges []struct {
			Node struct {
				ID    string
				Pages projectPages
			}
		}
	}
}

// pageCursor returns the cursor of id as the API writes it; nil for 0, no
// cursor.
func pageCursor(id int64) *string {
	if id == 0 {
		return nil
	}
	c := base64.RawURLEncoding.EncodeToString([]byte("id:" + strconv.FormatInt(id, 10)))
	return &c
}

// checkProjectPages checks the pages of project after after against all,
// the project's pages in id order.
func checkProjectPages(t *testing.T, project string, after int64, got projectPages, all []authz.Page) {
	t.Helper()
	var rest []authz.Page
	for _, p := range all {
		if p.ID > after {
			rest = append(rest, p)
		}
	}
	page := rest[:min(3, len(rest))]
	if got.TotalCount != len(all) || got.PageInfo.HasNextPage != (len(rest) > 3) || len(got.Edges) != len(page) {
		t.Fatalf("project %s after %d: totalCount %d, hasNextPage %v, %d edges; want %d, %v, %d",
			project, after, got.TotalCount, got.PageInfo.HasNextPage, len(got.Edges), len(all), len(rest) > 3, len(page))
	}
	for i, e := range got.Edges {
		if e.Node.ID != strconv.FormatInt(page[i].ID, 10) || e.Node.Title != page[i].Title || e.Cursor != *pageCursor(page[i].ID) {
			t.Fatalf("project %s after %d: edge %d = %+v, want page %d %q", project, after, i, e, page[i].ID, page[i].Title)
		}
	}
	if len(page) == 0 && got.PageInfo.EndCursor != nil || len(page) > 0 && (got.PageInfo.EndCursor == nil || *got.PageInfo.EndCursor != *pageCursor(page[len(page)-1].ID)) {
		t.Fatalf("project %s after %d: endCursor %v, want that of the last edge", project, after, got.PageInfo.EndCursor)
	}
}

// TestCheckStatements: with no shared cache, a request's token lookup
// also reads the viewer's global grants and the grants its query's check
// reads — another user's, or the viewer's in a project, in every project
// of a checkMany — so that such a request costs one statement (the counts
// below). The viewer's own global checks, such as the auth.view_user a
// question about another user needs, cost nothing more; a FULL check
// reads them, and the check's, again. The grants read with
// the token are the database's at that request: a revocation between two
// requests refuses the second. With a warm shared cache, a repeated
// request costs no statement at all.
func TestCheckStatements(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared cache %v", cached), func(t *testing.T) {
			dbtest.Run(t, func(t *testing.T, db *models.DB) {
				store := models.NewStore(db)
				var opts []authz.Option
				if cached {
					cache := authz.NewSharedCache(1000, nil)
					t.Cleanup(cache.Start(context.Background(), store, time.Hour))
					waitServing(t, cache)
					opts = append(opts, authz.WithSharedCache(cache))
				}
				h := serveHarness(t, db, store, authz.NewEngine(store, opts...))
				viewers := h.mustGroup(t, "viewers", authz.PermViewUser)
				v := h.mustUser(t, "v")
				h.join(t, v.ID, viewers.ID)
				target := h.mustUser(t, "target")
				p := h.mustProject(t, "p")
				p2 := h.mustProject(t, "p2")
				h.grantProject(t, authz.Holder{User: target.ID}, p.ID, authz.PermViewPage)

				about := fmt.Sprintf(`{ hasProjectPerm(perm: %q, project: %q, user: %q) }`, authz.PermViewPage, gid(p.ID), target.gid())
				cases := []struct {
					name, token, query, want string
					statements               int64
					vars                     []any
				}{
					{"another user's check", v.Token, about, `{"hasProjectPerm": true}`, 1, nil},
					{"the viewer's global check", v.Token, fmt.Sprintf(`{ hasPerm(perm: %q) }`, authz.PermViewUser), `{"hasPerm": true}`, 1, nil},
					{"the viewer's project check", v.Token, fmt.Sprintf(`{ hasProjectPerm(perm: %q, project: %q) }`, authz.PermViewPage, gid(p.ID)),
						`{"hasProjectPerm": false}`, 1, nil},
					{"another user's checks in two projects", v.Token,
						fmt.Sprintf(`{ checkMany(inputs: [{perm: %[1]q, project: %[2]q, user: %[4]q}, {perm: %[5]q, project: %[2]q, user: %[4]q},
							{perm: %[1]q, project: %[3]q, user: %[4]q}]) { allowed } }`, authz.PermViewPage, gid(p.ID), gid(p2.ID), target.gid(), authz.PermChangePage),
						`{"checkMany": [{"allowed": true}, {"allowed": false}, {"allowed": false}]}`, 1, nil},
					{"a FULL check about another user", v.Token,
						fmt.Sprintf(`{ hasProjectPerm(perm: %q, project: %q, user: %q, consistency: FULL) }`, authz.PermViewPage, gid(p.ID), target.gid()),
						`{"hasProjectPerm": true}`, 3, nil},
					{"a superuser's check about another user", h.root.Token, about, `{"hasProjectPerm": true}`, 1, nil},
					{"another user's check, with variables", v.Token,
						`query($perm: String!, $project: ID!, $user: ID) { hasProjectPerm(perm: $perm, project: $project, user: $user) }`,
						`{"hasProjectPerm": true}`, 1, []any{"perm", authz.PermViewPage, "project", gid(p.ID), "user", target.gid()}},
				}
				for _, c := range cases {
					counter := &models.StatementCounter{}
					got := h.doWith(t, h.counted(counter, c.token), c.query, c.vars...)
					wantData(t, c.query, got, c.want)
					if n := counter.Count(); !cached && n != c.statements || cached && n > c.statements {
						t.Errorf("%s: %s ran %d statements, want %d (at most, with the shared cache)", c.name, c.query, n, c.statements)
					}
					if !cached {
						continue
					}
					// Warm, only what FULL reads remains: the viewer's
					// grants and the check's.
					var want int64
					if strings.Contains(c.query, "FULL") {
						want = 2
					}
					counter.Reset()
					wantData(t, c.query, h.doWith(t, h.counted(counter, c.token), c.query, c.vars...), c.want)
					if n := counter.Count(); n != want {
						t.Errorf("%s, again: %s ran %d statements, want %d", c.name, c.query, n, want)
					}
				}

				if _, err := h.engine.RemoveUserFromGroup(h.ctx, v.ID, viewers.ID); err != nil {
					t.Fatal(err)
				}
				got := h.do(t, v.Token, about)
				if len(got.Errors) != 1 || got.Errors[0].code() != "FORBIDDEN" {
					t.Errorf("%s after leaving the group that gives %s = %v; want FORBIDDEN", about, authz.PermViewUser, got)
				}
			})
		})
	}
}

// waitServing waits until cache serves, which it does once its feed is
// caught up.
func waitServing(t *testing.T, cache *authz.SharedCache) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cache.Stats().Serving; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shared cache does not serve after 10s")
		}
	}
}

// maxNestedStatements bounds the statements of a list whose items carry
// guarded objects: the token lookup, the list and its count, one batch
// for each kind of nested object (a log's projects, its users), and the
// viewer's grants in every project the list spans, read at once.
const maxNestedStatements = 6

// TestNestedListStatements: the guarded objects nested in a list's items
// (a decision log's project and user, a grant event's actor, a page's
// project and author, a user's groups) load and pass their visibility
// rules with a constant number of statements: a list of 5 items and one
// of 50 over 20 projects cost the same, at most maxNestedStatements,
// whether the rules allow or, for half of the projects, deny.
func TestNestedListStatements(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		const nProjects, nUsers = 20, 10
		projects := make([]authz.Project, nProjects)
		for i := range projects {
			projects[i] = h.mustProject(t, fmt.Sprintf("n%02d", i))
		}
		groups := make([]authz.Group, 5)
		for i := range groups {
			groups[i] = h.mustGroup(t, fmt.Sprintf("n%d", i))
		}
		// reader may view every project and user, and belongs to the first
		// group but may not view groups: a user's groups show when they
		// are all the reader's.
		reader := h.mustUser(t, "reader", authz.PermViewDecisionLog, authz.PermViewUser)
		// half may view the pages of every project, the even projects only.
		half := h.mustUser(t, "half", authz.PermViewDecisionLog, authz.PermViewUser, authz.PermViewPage)
		h.join(t, reader.ID, groups[0].ID)
		for i, p := range projects {
			h.grantProject(t, authz.Holder{User: reader.ID}, p.ID, authz.PermViewProject, authz.PermViewPage)
			if i%2 == 0 {
				h.grantProject(t, authz.Holder{User: half.ID}, p.ID, authz.PermViewProject)
			}
		}
		// 50 users; the first 10 each check in 5 projects (50 logs over
		// all 20), write 5 pages (50 pages over all 20) and, as admins, add
		// 5 users to groups (50 events, 10 actors).
		users := make([]actor, 50)
		for i := range users {
			users[i] = h.mustUser(t, fmt.Sprintf("n%02d", i), authz.PermChangeGroup)
		}
		for i, u := range users[:nUsers] {
			for j := range 5 {
				p := projects[(i*5+j)%nProjects]
				q := fmt.Sprintf(`{ check(input: {perm: %q, project: %q}) { allowed } }`, authz.PermViewPage, gid(p.ID))
				if res := h.do(t, u.Token, q); len(res.Errors) != 0 {
					t.Fatalf("%s = %v", q, res)
				}
				if _, err := h.engine.CreatePage(h.ctx, authz.Page{ProjectID: p.ID, Title: "t", AuthorID: u.ID}); err != nil {
					t.Fatal(err)
				}
				q = fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, users[(i+j)%nUsers].gid(), gid(groups[j].ID))
				if res := h.do(t, u.Token, q); len(res.Errors) != 0 {
					t.Fatalf("%s = %v", q, res)
				}
			}
		}
		h.flushLogs(t)

		cases := []struct {
			name, query string
			// edges is the path of the list's edges in the data.
			edges string
		}{
			{"decisionLogs with project and user", `query($n: Int) { decisionLogs(first: $n) { edges { node { name project { name } user { username } } } } }`, "decisionLogs"},
			{"grantEvents with actor", `query($n: Int) { grantEvents(first: $n, filter: {action: "add_user_to_group"}) { edges { node { action actor { username } } } } }`, "grantEvents"},
			{"pages with project and author", `query($n: Int) { pages(first: $n) { edges { node { title project { name } author { username } } } } }`, "pages"},
			{"users with groups", `query($n: Int) { users(first: $n) { edges { node { username groups { name } } } } }`, "users"},
		}
		for _, c := range cases {
			for _, a := range []struct {
				name string
				who  actor
			}{{"reader", reader}, {"half", half}} {
				who := a.who
				t.Run(c.name+" as "+a.name, func(t *testing.T) {
					var counts []int64
					for _, n := range []int{5, 50} {
						counter := &models.StatementCounter{}
						res := h.doWith(t, h.counted(counter, who.Token), c.query, "n", n)
						var data map[string]struct{ Edges []json.RawMessage }
						if err := json.Unmarshal(res.Data, &data); err != nil {
							t.Fatal(err)
						}
						if got := len(data[c.edges].Edges); got != n {
							t.Fatalf("%s with $n = %d: %d edges, want %d (%v)", c.query, n, got, n, res)
						}
						for _, e := range res.Errors {
							if e.code() != "FORBIDDEN" {
								t.Errorf("%s with $n = %d: error %+v, want only FORBIDDEN", c.query, n, e)
							}
						}
						t.Logf("%s: $n = %d: %d statements, %d errors", db.Dialect, n, counter.Count(), len(res.Errors))
						counts = append(counts, counter.Count())
					}
					if counts[0] != counts[1] || counts[1] > maxNestedStatements {
						t.Errorf("%s: %d statements for 5 items, %d for 50; want the same, at most %d", c.query, counts[0], counts[1], maxNestedStatements)
					}
				})
			}
		}
	})
}

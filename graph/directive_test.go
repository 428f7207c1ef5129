package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// dFixture is what a directive case works on, all fresh: project A with
// one page, and a viewer holding some permissions in A.
type dFixture struct {
	viewer actor
	a      authz.Project
	page   authz.Page
}

// directiveCase is one request touching one guarded field, allowed or
// denied.
type directiveCase struct {
	name      string
	inA       []string // what the viewer holds in project A
	anonymous bool
	doc       func(f *dFixture) string
	vars      func(f *dFixture) []any // name, value, ... for the request
	// want is the data of the answer; with err, the data beside the error.
	want func(t *testing.T, h *harness, f *dFixture) string
	err  func(f *dFixture) errWant
	// pages is how many pages A holds after the request: the effect of
	// the mutation, or its absence.
	pages int
}

func (h *harness) newDFixture(t *testing.T, inA []string) *dFixture {
	t.Helper()
	f := &dFixture{a: h.mustProject(t, "a")}
	var err error
	f.page, err = h.engine.CreatePage(h.ctx, authz.Page{ProjectID: f.a.ID, Title: "first", Body: "hello"})
	if err != nil {
		t.Fatalf("CreatePage(%d) = %v", f.a.ID, err)
	}
	f.viewer = h.mustUser(t, "v")
	h.grantProject(t, authz.Holder{User: f.viewer.ID}, f.a.ID, inA...)
	return f
}

// ids puts the fixture's ids into a document or into data: <A> is A's,
// <PAGE> its page's.
func (f *dFixture) ids(s string) string {
	return strings.NewReplacer("<A>", gid(f.a.ID), "<PAGE>", gid(f.page.ID)).Replace(s)
}

// dDoc is a document with the fixture's ids.
func dDoc(doc string) func(f *dFixture) string {
	return func(f *dFixture) string { return f.ids(doc) }
}

// dData is data with the fixture's ids.
func dData(data string) func(t *testing.T, h *harness, f *dFixture) string {
	return func(t *testing.T, h *harness, f *dFixture) string { return f.ids(data) }
}

// deniedInA is the error of a denial of perm in A at path.
func deniedInA(path, perm string) func(f *dFixture) errWant {
	return func(f *dFixture) errWant {
		return errWant{code: "FORBIDDEN", path: path, perm: perm, project: gid(f.a.ID), msg: []string{perm}}
	}
}

func signIn(path string) func(f *dFixture) errWant {
	return func(*dFixture) errWant { return errWant{code: "UNAUTHENTICATED", path: path, msg: []string{"sign in"}} }
}

var (
	viewPage    = []string{authz.PermViewProject, authz.PermViewPage}
	addOnly     = []string{authz.PermAddPage} // may create pages but not read them
	addAndView  = []string{authz.PermAddPage, authz.PermViewPage}
	projectOnly = []string{authz.PermViewProject}
)

// createInA creates a page in A and reads fields of it back: the way to
// hold a Page whose fields the viewer may not read.
const createInA = `mutation { createPage(input: {project: "<A>", title: "new", body: "text"}) { __typename FIELDS } }`

func createDoc(fields string) func(f *dFixture) string {
	return dDoc(strings.Replace(createInA, "FIELDS", fields, 1))
}

var directiveCases = []directiveCase{
	// Project.pages: projects.view_page in the project itself.
	{name: "Project.pages allowed", inA: viewPage, pages: 1,
		doc:  dDoc(`{ project(id: "<A>") { pages { totalCount edges { node { id title body } } } } }`),
		want: dData(`{"project": {"pages": {"totalCount": 1, "edges": [{"node": {"id": "<PAGE>", "title": "first", "body": "hello"}}]}}}`)},
	{name: "Project.pages denied", inA: projectOnly, pages: 1,
		doc:  dDoc(`{ project(id: "<A>") { id pages { totalCount } } }`),
		want: dData(`{"project": {"id": "<A>", "pages": null}}`),
		err:  deniedInA("project.pages", authz.PermViewPage)},

	// The fields of Page: projects.view_page in the page's project. A
	// viewer who may add but not view pages gets them denied on the page
	// they just created.
	// Page.project also follows project(id)'s rule: view_project as well.
	{name: "Page.project allowed", inA: viewPage, pages: 1,
		doc:  dDoc(`{ page(id: "<PAGE>") { id project { id } } }`),
		want: dData(`{"page": {"id": "<PAGE>", "project": {"id": "<A>"}}}`)},
	{name: "Page.project without projects.view_project", inA: []string{authz.PermViewPage}, pages: 1,
		doc:  dDoc(`{ page(id: "<PAGE>") { id project { id } } }`),
		want: dData(`{"page": {"id": "<PAGE>", "project": null}}`),
		err:  deniedInA("page.project", authz.PermViewProject)},
	{name: "Page.project denied", inA: addOnly, pages: 2,
		doc:  createDoc(`project { id }`),
		want: dData(`{"createPage": {"__typename": "Page", "project": null}}`),
		err:  deniedInA("createPage.project", authz.PermViewPage)},
	{name: "Page.title allowed", inA: []string{authz.PermViewPage}, pages: 1,
		doc:  dDoc(`{ page(id: "<PAGE>") { title } }`),
		want: dData(`{"page": {"title": "first"}}`)},
	{name: "Page.title denied", inA: addOnly, pages: 2,
		doc:  createDoc(`title`),
		want: dData(`{"createPage": {"__typename": "Page", "title": null}}`),
		err:  deniedInA("createPage.title", authz.PermViewPage)},
	{name: "Page.body allowed", inA: []string{authz.PermViewPage}, pages: 1,
		doc:  dDoc(`{ page(id: "<PAGE>") { body } }`),
		want: dData(`{"page": {"body": "hello"}}`)},
	{name: "Page.body denied", inA: addOnly, pages: 2,
		doc:  createDoc(`body`),
		want: dData(`{"createPage": {"__typename": "Page", "body": null}}`),
		err:  deniedInA("createPage.body", authz.PermViewPage)},
	{name: "Page.createdAt allowed", inA: []string{authz.PermViewPage}, pages: 1,
		doc: dDoc(`{ page(id: "<PAGE>") { createdAt } }`),
		want: func(t *testing.T, h *harness, f *dFixture) string {
			p, err := h.store.Page(h.ctx, f.page.ID)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf(`{"page": {"createdAt": %q}}`, p.CreatedAt.Format(time.RFC3339Nano))
		}},
	{name: "Page.createdAt denied", inA: addOnly, pages: 2,
		doc:  createDoc(`createdAt`),
		want: dData(`{"createPage": {"__typename": "Page", "createdAt": null}}`),
		err:  deniedInA("createPage.createdAt", authz.PermViewPage)},
	{name: "Page fields allowed on a created page", inA: append([]string{authz.PermViewProject}, addAndView...), pages: 2,
		doc:  createDoc(`title body project { id }`),
		want: dData(`{"createPage": {"__typename": "Page", "title": "new", "body": "text", "project": {"id": "<A>"}}}`)},
	{name: "Page fields on a created page, its project without projects.view_project", inA: addAndView, pages: 2,
		doc:  createDoc(`title body project { id }`),
		want: dData(`{"createPage": {"__typename": "Page", "title": "new", "body": "text", "project": null}}`),
		err:  deniedInA("createPage.project", authz.PermViewProject)},

	// createPage: projects.add_page in input.project.
	{name: "createPage allowed", inA: addOnly, pages: 2,
		doc:  createDoc(``),
		want: dData(`{"createPage": {"__typename": "Page"}}`)},
	{name: "createPage denied", inA: viewPage, pages: 1,
		doc:  createDoc(`title`),
		want: dData(`{"createPage": null}`),
		err:  deniedInA("createPage", authz.PermAddPage)},
	{name: "createPage anonymously", anonymous: true, pages: 1,
		doc:  createDoc(`title`),
		want: dData(`{"createPage": null}`),
		err:  signIn("createPage")},
	{name: "createPage, project in a variable, allowed", inA: addAndView, pages: 2,
		doc:  dDoc(`mutation($p: ID!) { createPage(input: {project: $p, title: "x"}) { title } }`),
		vars: func(f *dFixture) []any { return []any{"p", gid(f.a.ID)} },
		want: dData(`{"createPage": {"title": "x"}}`)},
	{name: "createPage, project in a variable, denied", inA: viewPage, pages: 1,
		doc:  dDoc(`mutation($p: ID!) { createPage(input: {project: $p, title: "x"}) { title } }`),
		vars: func(f *dFixture) []any { return []any{"p", gid(f.a.ID)} },
		want: dData(`{"createPage": null}`),
		err:  deniedInA("createPage", authz.PermAddPage)},
	{name: "createPage, project a number in a variable, denied", inA: viewPage, pages: 1,
		doc:  dDoc(`mutation($p: ID!) { createPage(input: {project: $p, title: "x"}) { title } }`),
		vars: func(f *dFixture) []any { return []any{"p", f.a.ID} },
		want: dData(`{"createPage": null}`),
		err:  deniedInA("createPage", authz.PermAddPage)},
	{name: "createPage, input in a variable, allowed", inA: addAndView, pages: 2,
		doc: dDoc(`mutation($in: CreatePageInput!) { createPage(input: $in) { title body } }`),
		vars: func(f *dFixture) []any {
			return []any{"in", map[string]any{"project": gid(f.a.ID), "title": "y", "body": "z"}}
		},
		want: dData(`{"createPage": {"title": "y", "body": "z"}}`)},
	{name: "createPage, input in a variable, denied", inA: viewPage, pages: 1,
		doc:  dDoc(`mutation($in: CreatePageInput!) { createPage(input: $in) { title } }`),
		vars: func(f *dFixture) []any { return []any{"in", map[string]any{"project": gid(f.a.ID), "title": "y"}} },
		want: dData(`{"createPage": null}`),
		err:  deniedInA("createPage", authz.PermAddPage)},
	{name: "createPage, project not an id", inA: addAndView, pages: 1,
		doc:  dDoc(`mutation { createPage(input: {project: "a1", title: "x"}) { title } }`),
		want: dData(`{"createPage": null}`),
		err: func(*dFixture) errWant {
			return errWant{code: "BAD_USER_INPUT", path: "createPage", msg: []string{"input.project", `"a1"`}}
		}},

	// deletePage: projects.delete_page in the project of the page it names.
	{name: "deletePage allowed", inA: []string{authz.PermDeletePage}, pages: 0,
		doc:  dDoc(`mutation { deletePage(id: "<PAGE>") }`),
		want: dData(`{"deletePage": true}`)},
	{name: "deletePage denied", inA: []string{authz.PermViewPage, "projects.change_page", authz.PermAddPage}, pages: 1,
		doc:  dDoc(`mutation { deletePage(id: "<PAGE>") }`),
		want: dData(`{"deletePage": null}`),
		err:  deniedInA("deletePage", authz.PermDeletePage)},
	{name: "deletePage anonymously", anonymous: true, pages: 1,
		doc:  dDoc(`mutation { deletePage(id: "<PAGE>") }`),
		want: dData(`{"deletePage": null}`),
		err:  signIn("deletePage")},
	{name: "deletePage of no page", inA: []string{authz.PermDeletePage}, pages: 1,
		doc:  dDoc(`mutation { deletePage(id: "987654321") }`),
		want: dData(`{"deletePage": null}`),
		err: func(*dFixture) errWant {
			return errWant{code: "NOT_FOUND", path: "deletePage", msg: []string{"987654321"}}
		}},
}

// TestDirective runs every field @hasProjectPerm guards, allowed and
// denied: a denial is null with FORBIDDEN at the field's path, naming the
// permission and the project; without a viewer it is UNAUTHENTICATED; a
// denied mutation changes nothing. The project comes from the parent
// object (Project.pages, Page.*), from a dotted argument path, literal or
// in variables (createPage), or from a registered lookup (deletePage).
func TestDirective(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		for _, c := range directiveCases {
			t.Run(c.name, func(t *testing.T) {
				f := h.newDFixture(t, c.inA)
				q := c.doc(f)
				token := f.viewer.Token
				if c.anonymous {
					token = ""
				}
				var vars []any
				if c.vars != nil {
					vars = c.vars(f)
				}
				res := h.do(t, token, q, vars...)
				want := c.want(t, h, f)
				if c.err == nil {
					wantData(t, q, res, want)
				} else {
					wantError(t, q, res, c.err(f))
					if normJSON(t, string(res.Data)) != normJSON(t, want) {
						t.Errorf("%s: data = %s, want %s", q, res.Data, normJSON(t, want))
					}
				}
				pages, err := h.store.ProjectPages(h.ctx, f.a.ID, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(pages) != c.pages {
					t.Errorf("after %s, project A holds %d pages, want %d", q, len(pages), c.pages)
				}
			})
		}
	})
}

// TestDirectivePartialData: a denied field is null beside the allowed ones
// of the same response, with one error per denial, and viewerPermissions
// and viewerCan answer for the denied project without an error; a
// viewerCan of a name that is not a permission errs alone.
func TestDirectivePartialData(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		a, b := h.mustProject(t, "a"), h.mustProject(t, "b")
		for _, p := range []authz.Project{a, b} {
			h.mustPage(t, p.ID, "one")
			h.mustPage(t, p.ID, "two")
		}
		// v may view both projects, and the pages of B only.
		v := h.mustUser(t, "v")
		h.grantProject(t, authz.Holder{User: v.ID}, a.ID, authz.PermViewProject)
		h.grantProject(t, authz.Holder{User: v.ID}, b.ID, authz.PermViewProject, authz.PermViewPage)

		t.Run("projects with pages", func(t *testing.T) {
			q := `{ projects { totalCount edges { node { id viewerPermissions
				page: viewerCan(perm: "projects.view_page") del: viewerCan(perm: "projects.delete_page")
				pages { totalCount edges { node { title } } } } } } }`
			res := h.do(t, v.Token, q)
			wantError(t, q, res, errWant{code: "FORBIDDEN", path: "projects.edges.0.node.pages",
				perm: authz.PermViewPage, project: gid(a.ID), msg: []string{authz.PermViewPage}})
			want := fmt.Sprintf(`{"projects": {"totalCount": 2, "edges": [
				{"node": {"id": %q, "viewerPermissions": ["projects.view_project"], "page": false, "del": false, "pages": null}},
				{"node": {"id": %q, "viewerPermissions": ["projects.view_page", "projects.view_project"], "page": true, "del": false,
				          "pages": {"totalCount": 2, "edges": [{"node": {"title": "one"}}, {"node": {"title": "two"}}]}}}]}}`,
				gid(a.ID), gid(b.ID))
			if normJSON(t, string(res.Data)) != normJSON(t, want) {
				t.Errorf("%s: data = %s, want %s", q, res.Data, normJSON(t, want))
			}
		})

		t.Run("viewerPermissions and viewerCan never error", func(t *testing.T) {
			q := fmt.Sprintf(`{ a: project(id: %q) { viewerPermissions add: viewerCan(perm: "projects.add_page")
				view: viewerCan(perm: "projects.view_page") user: viewerCan(perm: "auth.view_user") } }`, gid(a.ID))
			wantData(t, q, h.do(t, v.Token, q),
				`{"a": {"viewerPermissions": ["projects.view_project"], "add": false, "view": false, "user": false}}`)
		})

		// A name that is not a permission is an error on viewerCan alone:
		// null there, and the project's other fields kept.
		for _, c := range []struct{ perm, code string }{
			{"projects.veiw_page", "UNKNOWN_PERMISSION"},
			{"1projects.view_page", "MALFORMED_PERMISSION"},
		} {
			t.Run("viewerCan of "+c.perm, func(t *testing.T) {
				q := fmt.Sprintf(`{ project(id: %q) { name viewerPermissions viewerCan(perm: %q) } }`, gid(b.ID), c.perm)
				res := h.do(t, v.Token, q)
				wantError(t, q, res, errWant{code: c.code, path: "project.viewerCan", msg: []string{strconv.Quote(c.perm)}})
				want := fmt.Sprintf(`{"project": {"name": %q, "viewerPermissions": ["projects.view_page", "projects.view_project"], "viewerCan": null}}`, b.Name)
				if normJSON(t, string(res.Data)) != normJSON(t, want) {
					t.Errorf("%s: data = %s, want %s", q, res.Data, normJSON(t, want))
				}
			})
		}

		t.Run("created pages, one readable", func(t *testing.T) {
			w := h.mustUser(t, "w")
			h.grantProject(t, authz.Holder{User: w.ID}, a.ID, authz.PermAddPage)
			h.grantProject(t, authz.Holder{User: w.ID}, b.ID, authz.PermAddPage, authz.PermViewPage)
			q := fmt.Sprintf(`mutation { x: createPage(input: {project: %q, title: "x"}) { title body }
				y: createPage(input: {project: %q, title: "y"}) { title body } }`, gid(a.ID), gid(b.ID))
			res := h.do(t, w.Token, q)
			if len(res.Errors) != 2 {
				t.Fatalf("%s = %v, want two errors, for x.title and x.body", q, res)
			}
			for _, e := range res.Errors {
				if e.code() != "FORBIDDEN" || !strings.HasPrefix(e.pathString(), "x.") || e.Extensions["project"] != gid(a.ID) {
					t.Errorf("%s: error %+v, want FORBIDDEN at x.title or x.body in project %d", q, e, a.ID)
				}
			}
			want := `{"x": {"title": null, "body": null}, "y": {"title": "y", "body": ""}}`
			if normJSON(t, string(res.Data)) != normJSON(t, want) {
				t.Errorf("%s: data = %s, want %s", q, res.Data, normJSON(t, want))
			}
		})
	})
}

// TestQueryPages: Query.pages lists only the pages the viewer may view,
// whichever way the permission is held, filtered in the database so that
// totalCount counts only those and every page of results is full.
func TestQueryPages(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		// P1 through a user grant, P2 through a group grant, P3 not at all,
		// P4 with view_project and add_page but not view_page.
		var ps [4]authz.Project
		for i := range ps {
			ps[i] = h.mustProject(t, fmt.Sprintf("p%d", i+1))
		}
		v := h.mustUser(t, "v")
		team := h.mustGroup(t, "team")
		h.join(t, v.ID, team.ID)
		// With view_project beside view_page, so that the pages' project is
		// shown (it follows project(id)'s rule: "view_page alone" below).
		h.grantProject(t, authz.Holder{User: v.ID}, ps[0].ID, authz.PermViewPage, authz.PermViewProject)
		h.grantProject(t, authz.Holder{Group: team.ID}, ps[1].ID, authz.PermViewPage, authz.PermViewProject)
		h.grantProject(t, authz.Holder{User: v.ID}, ps[3].ID, authz.PermViewProject, authz.PermAddPage)
		// Three rounds over the projects, so that ids interleave.
		var visible, all []string
		for round := range 3 {
			for i, p := range ps {
				title := fmt.Sprintf("p%d-%d", i+1, round)
				h.mustPage(t, p.ID, title)
				all = append(all, title)
				if i < 2 {
					visible = append(visible, title)
				}
			}
		}
		const q = `query($after: String) { pages(first: 2, after: $after) { totalCount edges { cursor node { title body project { id } } } pageInfo { hasNextPage endCursor } } }`
		title := func(e json.RawMessage) string {
			var node struct{ Node struct{ Title string } }
			json.Unmarshal(e, &node)
			return node.Node.Title
		}
		for _, c := range []struct {
			name  string
			token string
			want  []string
		}{
			{"user and group grants", v.Token, visible},
			{"global grant", h.mustUser(t, "global", authz.PermViewPage, authz.PermViewProject).Token, all},
			{"superuser", h.root.Token, all},
			{"no grant", h.mustUser(t, "nobody", authz.PermViewProject).Token, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got := collect(t, h, c.token, q, "pages", len(c.want), title)
				if strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Errorf("pages = %v, want %v", got, c.want)
				}
			})
		}
		t.Run("view_page alone", func(t *testing.T) {
			// Deliberate since the visibility rules: the pages, each
			// with its project null and FORBIDDEN for projects.view_project.
			reader := h.mustUser(t, "reader", authz.PermViewPage)
			q := `{ pages(first: 100) { totalCount edges { node { title project { id } } } } }`
			res := h.do(t, reader.Token, q)
			var out struct {
				Pages struct {
					TotalCount int
					Edges      []struct {
						Node struct {
							Title   string
							Project *idRef
						}
					}
				}
			}
			if err := json.Unmarshal(res.Data, &out); err != nil {
				t.Fatal(err)
			}
			var titles []string
			for _, e := range out.Pages.Edges {
				titles = append(titles, e.Node.Title)
				if e.Node.Project != nil {
					t.Errorf("%s: page %s has project %v, want null", q, e.Node.Title, e.Node.Project)
				}
			}
			if out.Pages.TotalCount != len(all) || strings.Join(titles, ",") != strings.Join(all, ",") {
				t.Errorf("%s = %d pages %v, want %d: %v", q, out.Pages.TotalCount, titles, len(all), all)
			}
			if len(res.Errors) != len(all) {
				t.Fatalf("%s: %d errors, want one per page: %v", q, len(res.Errors), res)
			}
			for _, e := range res.Errors {
				if e.code() != "FORBIDDEN" || e.Extensions["permission"] != authz.PermViewProject || !strings.HasSuffix(e.pathString(), ".node.project") {
					t.Errorf("%s: error %+v, want FORBIDDEN for %s at pages.edges.N.node.project", q, e, authz.PermViewProject)
				}
			}
		})
		t.Run("anonymous", func(t *testing.T) {
			q := `{ pages { totalCount edges { node { title } } pageInfo { hasNextPage endCursor } } }`
			wantData(t, q, h.do(t, "", q), `{"pages": {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}`)
		})
	})
}

// TestSchemaValidates: grantql's own schema passes the directive's
// start-up validation, so NewGraphQLHandler (and with it cmd/api) starts.
func TestSchemaValidates(t *testing.T) {
	db := dbtest.Open(t, models.SQLite)
	store := models.NewStore(db)
	if _, err := graph.NewGraphQLHandler(context.Background(), authz.NewEngine(store), store); err != nil {
		t.Fatalf("NewGraphQLHandler() = %v, want grantql's schema to validate", err)
	}
}

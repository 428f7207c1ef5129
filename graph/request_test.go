package graph_test

import (
	"fmt"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestSameRequestSeesGrant: a grant made by one mutation field is seen by
// the authorization of a later field of the same request.
//
// Mutation fields run one after the other, and every check of a request
// goes through the request cache that graph.Authenticate puts in the
// context. The construction needs a later field whose authorization
// depends on an earlier field's grant, made by the viewer itself; a
// non-superuser cannot grant itself what it lacks (that is the escalation
// rule), so the grant is the creator's: createProject gives its creator
// every projects.* permission in the new project. The viewer M holds only
// projects.add_project, globally. In one request M sends
//
//	a: createPage in project N   (N = the id the next project will get)
//	p: createProject             (creates N; M receives projects.add_page in it)
//	b: createPage in project N
//
// Field a fails with NOT_FOUND and leaves in the request cache M's grants
// with "project N does not exist"; field b is allowed only if createProject
// emptied the cache, so that b's check loads N and M's new grants. The
// same createPage alone before the request fails, and createPage in a
// project M did not create is FORBIDDEN, so b's allow comes from p.
func TestSameRequestSeesGrant(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		m := h.mustUser(t, "m", authz.PermAddProject)
		other := h.mustProject(t, "other")
		next := other.ID + 1 // ids are handed out in order, and this database has no other project

		createPage := func(alias string, project int64, title string) string {
			return fmt.Sprintf(`%s: createPage(input: {project: %q, title: %q}) { id }`, alias, gid(project), title)
		}
		t.Run("alone, before", func(t *testing.T) {
			q := "mutation { " + createPage("b", other.ID, "x") + " }"
			wantError(t, q, h.do(t, m.Token, q), errWant{code: "FORBIDDEN", path: "b", perm: authz.PermAddPage, project: gid(other.ID), msg: []string{authz.PermAddPage}})
			q = "mutation { " + createPage("b", next, "x") + " }"
			wantError(t, q, h.do(t, m.Token, q), errWant{code: "NOT_FOUND", path: "b", msg: []string{fmt.Sprintf("project %d not found", next)}})
		})
		t.Run("after createProject in the same request", func(t *testing.T) {
			q := "mutation { " + createPage("a", next, "before") + ` p: createProject(name: "mine") { id } ` + createPage("b", next, "after") + " }"
			res := h.do(t, m.Token, q)
			// Field a fails, and as every mutation field is non-null, data
			// is null: the effects are checked in the database.
			wantError(t, q, res, errWant{code: "NOT_FOUND", path: "a", msg: []string{fmt.Sprintf("project %d not found", next)}})
			p, err := h.store.Project(h.ctx, next)
			if err != nil || p.Name != "mine" {
				t.Fatalf("Project(%d) = %+v, %v, want the project created by field p (were ids not handed out in order?)", next, p, err)
			}
			pages, err := h.store.ProjectPages(h.ctx, next, 0, 10)
			if err != nil || len(pages) != 1 || pages[0].Title != "after" {
				t.Errorf("ProjectPages(%d) = %+v, %v, want the page of field b", next, pages, err)
			}
		})
	})
}

// TestSameRequestSeesRevocation: a revocation made by one mutation field
// is seen by a later field of the same request, even when an earlier field
// loaded the viewer's grants into the request cache. Each document is
// sent twice: without the revoking field, both uses are allowed (so the
// refusal depends on it), and with it, the second use is FORBIDDEN.
func TestSameRequestSeesRevocation(t *testing.T) {
	type setup struct {
		viewer actor
		p      authz.Project
		g      authz.Group
	}
	cases := []struct {
		name   string
		make   func(t *testing.T, h *harness) setup
		use    func(s setup, alias string) string // a field the viewer may use until the change
		change func(s setup) string               // a field that takes the permission away
		perm   string
		inP    bool
	}{
		{
			name: "revokeProjectPerm of one's own grant",
			make: func(t *testing.T, h *harness) setup {
				s := setup{viewer: h.mustUser(t, "m"), p: h.mustProject(t, "p")}
				h.grantProject(t, authz.Holder{User: s.viewer.ID}, s.p.ID, authz.PermManageMembers, authz.PermAddPage)
				return s
			},
			use: func(s setup, alias string) string {
				return fmt.Sprintf(`%s: createPage(input: {project: %q, title: "t"}) { id }`, alias, gid(s.p.ID))
			},
			change: func(s setup) string {
				return fmt.Sprintf(`r: revokeProjectPerm(perm: "projects.add_page", project: %q, user: %q)`, gid(s.p.ID), s.viewer.gid())
			},
			perm: authz.PermAddPage, inP: true,
		},
		{
			name: "removeUserFromGroup of oneself from the group that gave it",
			make: func(t *testing.T, h *harness) setup {
				s := setup{viewer: h.mustUser(t, "m", authz.PermChangeGroup), p: h.mustProject(t, "p"), g: h.mustGroup(t, "writers")}
				h.grantProject(t, authz.Holder{Group: s.g.ID}, s.p.ID, authz.PermAddPage)
				h.join(t, s.viewer.ID, s.g.ID)
				return s
			},
			use: func(s setup, alias string) string {
				return fmt.Sprintf(`%s: createPage(input: {project: %q, title: "t"}) { id }`, alias, gid(s.p.ID))
			},
			change: func(s setup) string {
				return fmt.Sprintf(`r: removeUserFromGroup(user: %q, group: %q) { id }`, s.viewer.gid(), gid(s.g.ID))
			},
			perm: authz.PermAddPage, inP: true,
		},
		{
			name: "revokePerm of one's own global grant",
			make: func(t *testing.T, h *harness) setup {
				return setup{viewer: h.mustUser(t, "m", authz.PermChangeUser, authz.PermAddGroup)}
			},
			use: func(s setup, alias string) string {
				return fmt.Sprintf(`%s: createGroup(name: %q) { id }`, alias, dbtest.Name(alias))
			},
			change: func(s setup) string {
				return fmt.Sprintf(`r: revokePerm(perm: "auth.add_group", user: %q)`, s.viewer.gid())
			},
			perm: authz.PermAddGroup,
		},
		{
			name: "deleteGroup of the group that gave it",
			make: func(t *testing.T, h *harness) setup {
				s := setup{viewer: h.mustUser(t, "m", authz.PermDeleteGroup), g: h.mustGroup(t, "makers", authz.PermAddGroup)}
				h.join(t, s.viewer.ID, s.g.ID)
				return s
			},
			use: func(s setup, alias string) string {
				return fmt.Sprintf(`%s: createGroup(name: %q) { id }`, alias, dbtest.Name(alias))
			},
			change: func(s setup) string { return fmt.Sprintf(`r: deleteGroup(id: %q)`, gid(s.g.ID)) },
			perm:   authz.PermAddGroup,
		},
		{
			name: "updateUser of oneself, no longer a superuser",
			make: func(t *testing.T, h *harness) setup {
				return setup{viewer: h.mustUserFlags(t, "m", true, true)}
			},
			use: func(s setup, alias string) string {
				return fmt.Sprintf(`%s: createGroup(name: %q) { id }`, alias, dbtest.Name(alias))
			},
			change: func(s setup) string {
				return fmt.Sprintf(`r: updateUser(id: %q, input: {isSuperuser: false}) { isSuperuser }`, s.viewer.gid())
			},
			perm: authz.PermAddGroup,
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := c.make(t, h)
				q := "mutation { " + c.use(s, "a") + " " + c.use(s, "b") + " }"
				if res := h.do(t, s.viewer.Token, q); len(res.Errors) != 0 {
					t.Fatalf("%s = %v, want both allowed before the change", q, res)
				}
				q = "mutation { " + c.use(s, "a") + " " + c.change(s) + " " + c.use(s, "b") + " }"
				w := errWant{code: "FORBIDDEN", path: "b", perm: c.perm, msg: []string{c.perm}}
				if c.inP {
					w.project = gid(s.p.ID)
				}
				wantError(t, q, h.do(t, s.viewer.Token, q), w)
			})
		}
	})
}

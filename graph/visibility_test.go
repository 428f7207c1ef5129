package graph_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestDecisionLogProjectGuarded: a decision log's project is shown only to
// a viewer who may view the project (project(id)'s rule): not through
// check's log sent anonymously, nor through decisionLogs to a user without
// a grant there (finding 4).
func TestDecisionLogProjectGuarded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, 1)
		p := h.mustProject(t, "secret")
		u := h.mustUser(t, "u")
		viewer := h.mustUser(t, "viewer")
		h.grantProject(t, authz.Holder{User: viewer.ID}, p.ID, authz.PermViewProject)
		checkQ := fmt.Sprintf(`{ check(input: {perm: "projects.view_page", project: %q}) { allowed log { project { name } } } }`, gid(p.ID))
		// Anonymous: the check leaves no log, so there is no project to show.
		wantData(t, checkQ, h.do(t, "", checkQ), `{"check": {"allowed": false, "log": null}}`)
		// Signed in without projects.view_project: the log, not the project.
		wantError(t, checkQ, h.do(t, u.Token, checkQ), errWant{code: "FORBIDDEN", path: "check.log.project",
			perm: authz.PermViewProject, project: gid(p.ID), msg: []string{authz.PermViewProject}})
		h.flushLogs(t)
		logsQ := `{ decisionLogs(filter: {permission: "projects.view_page"}) { edges { node { project { name } } } } }`
		res := h.do(t, u.Token, logsQ)
		wantError(t, logsQ, res, errWant{code: "FORBIDDEN", path: "decisionLogs.edges.0.node.project",
			perm: authz.PermViewProject, project: gid(p.ID), msg: []string{authz.PermViewProject}})
		// A viewer who may view the project reads its name in its own log.
		wantData(t, checkQ, h.do(t, viewer.Token, checkQ), fmt.Sprintf(`{"check": {"allowed": false, "log": {"project": {"name": %q}}}}`, p.Name))
	})
}

// TestNestedUserGuarded: a user, and a user's groups, are shown only under
// user(id)'s and group(id)'s rules: not to a holder of projects.view_page
// through page.author, nor to an auditor through decisionLogs.user
// (finding 7). The viewer's own groups stay visible.
func TestNestedUserGuarded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, 1)
		p := h.mustProject(t, "p")
		author := h.mustUser(t, "author")
		g := h.mustGroup(t, "staff")
		h.join(t, author.ID, g.ID)
		page, err := h.engine.CreatePage(h.ctx, authz.Page{ProjectID: p.ID, Title: "t", AuthorID: author.ID})
		if err != nil {
			t.Fatal(err)
		}
		reader := h.mustUser(t, "reader")
		h.grantProject(t, authz.Holder{User: reader.ID}, p.ID, authz.PermViewPage)
		pageQ := fmt.Sprintf(`{ page(id: %q) { title author { groups { name } isSuperuser } } }`, gid(page.ID))
		res := h.do(t, reader.Token, pageQ)
		wantError(t, pageQ, res, errWant{code: "FORBIDDEN", path: "page.author", perm: authz.PermViewUser, msg: []string{authz.PermViewUser}})

		// The author's own check leaves a log an auditor reads.
		checkQ := fmt.Sprintf(`{ check(input: {perm: "projects.view_page", project: %q}) { allowed } }`, gid(p.ID))
		wantData(t, checkQ, h.do(t, author.Token, checkQ), `{"check": {"allowed": false}}`)
		h.flushLogs(t)
		auditor := h.mustUser(t, "auditor", authz.PermViewDecisionLog)
		logsQ := fmt.Sprintf(`{ decisionLogs(filter: {user: %q}) { edges { node { permission user { groups { name } } } } } }`, author.gid())
		wantError(t, logsQ, h.do(t, auditor.Token, logsQ), errWant{code: "FORBIDDEN", path: "decisionLogs.edges.0.node.user",
			perm: authz.PermViewUser, msg: []string{authz.PermViewUser}})
		// user(id) and group(id) answer the same.
		for _, q := range []string{fmt.Sprintf(`{ user(id: %q) { id } }`, author.gid()), fmt.Sprintf(`{ group(id: %q) { id } }`, gid(g.ID))} {
			for _, a := range []actor{reader, auditor} {
				if res := h.do(t, a.Token, q); len(res.Errors) != 1 || res.Errors[0].code() != "FORBIDDEN" {
					t.Errorf("%s as %s = %v, want FORBIDDEN", q, a.Username, res)
				}
			}
		}
		// Oneself: one's groups, through viewer and group(id).
		own := fmt.Sprintf(`{ viewer { groups { name } } group(id: %q) { name } }`, gid(g.ID))
		wantData(t, own, h.do(t, author.Token, own), fmt.Sprintf(`{"viewer": {"groups": [{"name": %q}]}, "group": {"name": %[1]q}}`, g.Name))
	})
}

// TestGrantAnswerGuarded: what grantProjectPerm answers follows the front
// doors too. A manager of a project's members who may not view the
// project gets the grant made and its holders, users and groups, which
// projectGrants shows them, but not the project.
func TestGrantAnswerGuarded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		p := h.mustProject(t, "p")
		manager := h.mustUser(t, "manager")
		h.grantProject(t, authz.Holder{User: manager.ID}, p.ID, authz.PermManageMembers, authz.PermPublishPage)
		u := h.mustUser(t, "u")
		g := h.mustGroup(t, "g")
		q := fmt.Sprintf(`mutation { grantProjectPerm(perm: %q, project: %q, user: %q) { project { id } permission { key } users { username } } }`,
			authz.PermPublishPage, gid(p.ID), u.gid())
		res := h.do(t, manager.Token, q)
		wantError(t, q, res, errWant{code: "FORBIDDEN", path: "grantProjectPerm.project", perm: authz.PermViewProject,
			project: gid(p.ID), msg: []string{authz.PermViewProject}})
		names := []string{manager.Username, u.Username}
		slices.Sort(names)
		want := fmt.Sprintf(`{"grantProjectPerm": {"project": null, "permission": {"key": %q}, "users": [{"username": %q}, {"username": %q}]}}`,
			authz.PermPublishPage, names[0], names[1])
		if normJSON(t, string(res.Data)) != normJSON(t, want) {
			t.Errorf("%s: data = %s, want %s", q, res.Data, normJSON(t, want))
		}
		if !h.hasProjectPerm(t, u.ID, authz.PermPublishPage, p.ID) {
			t.Errorf("%s: the grant was not made", q)
		}
		gq := fmt.Sprintf(`mutation { grantProjectPerm(perm: %q, project: %q, group: %q) { groups { name } } }`,
			authz.PermPublishPage, gid(p.ID), gid(g.ID))
		wantData(t, gq, h.do(t, manager.Token, gq), fmt.Sprintf(`{"grantProjectPerm": {"groups": [{"name": %q}]}}`, g.Name))
	})
}

package graph_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// qFixture is what a query case works on, all fresh: a viewer; a user U
// who holds projects.view_page globally and projects.publish_page in P, and
// belongs to group G, which holds projects.view_page in P; projects P (with
// one page) and Q.
type qFixture struct {
	viewer, user actor
	group        authz.Group
	p, q         authz.Project
	page         authz.Page
}

func (h *harness) newQFixture(t *testing.T, c queryCase) *qFixture {
	t.Helper()
	f := &qFixture{p: h.mustProject(t, "p"), q: h.mustProject(t, "q")}
	f.page = h.mustPage(t, f.p.ID, "fixture page")
	f.user = h.mustUser(t, "u", authz.PermViewPage)
	h.grantProject(t, authz.Holder{User: f.user.ID}, f.p.ID, publish)
	f.group = h.mustGroup(t, "g")
	h.grantProject(t, authz.Holder{Group: f.group.ID}, f.p.ID, authz.PermViewPage)
	h.join(t, f.user.ID, f.group.ID)
	f.viewer = h.mustUser(t, "v", c.global...)
	h.grantProject(t, authz.Holder{User: f.viewer.ID}, f.p.ID, c.inP...)
	h.grantProject(t, authz.Holder{User: f.viewer.ID}, f.q.ID, c.inQ...)
	return f
}

// queryCase is one query by a viewer holding some permissions.
type queryCase struct {
	name             string
	global, inP, inQ []string // what the viewer holds
	anonymous        bool
	doc              func(f *qFixture) string
	// want is the data of the answer; with err, the data beside the error.
	want func(t *testing.T, h *harness, f *qFixture) string
	err  func(f *qFixture) errWant
}

func forbidden(path, perm string) func(f *qFixture) errWant {
	return func(*qFixture) errWant {
		return errWant{code: "FORBIDDEN", path: path, perm: perm, msg: []string{perm}}
	}
}

func forbiddenInP(path, perm string) func(f *qFixture) errWant {
	return func(f *qFixture) errWant {
		return errWant{code: "FORBIDDEN", path: path, perm: perm, project: gid(f.p.ID), msg: []string{perm}}
	}
}

func unauthenticated(path string) func(f *qFixture) errWant {
	return func(*qFixture) errWant { return errWant{code: "UNAUTHENTICATED", path: path, msg: []string{"sign in"}} }
}

func data(format string, args ...func(f *qFixture) any) func(t *testing.T, h *harness, f *qFixture) string {
	return func(t *testing.T, h *harness, f *qFixture) string {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a(f)
		}
		return fmt.Sprintf(format, vals...)
	}
}

// Argument getters for data and docs.
func viewerName(f *qFixture) any { return f.viewer.Username }
func userName(f *qFixture) any   { return f.user.Username }
func userID(f *qFixture) any     { return f.user.gid() }
func groupName(f *qFixture) any  { return f.group.Name }
func pID(f *qFixture) any        { return gid(f.p.ID) }
func pName(f *qFixture) any      { return f.p.Name }

func doc(format string, args ...func(f *qFixture) any) func(f *qFixture) string {
	return func(f *qFixture) string {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a(f)
		}
		return fmt.Sprintf(format, vals...)
	}
}

// grantsOfP is projectGrants(P) as U, G and (when it manages members) the
// viewer hold them, in permission id order.
func grantsOfP(viewerManages bool) func(t *testing.T, h *harness, f *qFixture) string {
	return func(t *testing.T, h *harness, f *qFixture) string {
		type grant struct {
			id    int64
			entry string
		}
		lookup := func(key string) int64 {
			p, err := h.engine.Registry().Lookup(h.ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return p.ID
		}
		grants := []grant{
			{lookup(publish), fmt.Sprintf(`{"permission": {"key": %q}, "users": [{"username": %q}], "groups": []}`, publish, f.user.Username)},
			{lookup(authz.PermViewPage), fmt.Sprintf(`{"permission": {"key": %q}, "users": [], "groups": [{"name": %q}]}`, authz.PermViewPage, f.group.Name)},
		}
		if viewerManages {
			grants = append(grants, grant{lookup(authz.PermManageMembers),
				fmt.Sprintf(`{"permission": {"key": %q}, "users": [{"username": %q}], "groups": []}`, authz.PermManageMembers, f.viewer.Username)})
		}
		sort.Slice(grants, func(i, j int) bool { return grants[i].id < grants[j].id })
		entries := make([]string, len(grants))
		for i, g := range grants {
			entries[i] = g.entry
		}
		return `{"projectGrants": [` + strings.Join(entries, ",") + `]}`
	}
}

const (
	usersWithPublishDoc = `{ usersWithProjectPerm(perm: "projects.publish_page", project: %q) { totalCount edges { node { username } sources } } }`
	projectGrantsDoc    = `{ projectGrants(project: %q) { permission { key } users { username } groups { name } } }`
)

var usersWithPublish = data(`{"usersWithProjectPerm": {"totalCount": 2, "edges": [
	{"node": {"username": "root"}, "sources": ["SUPERUSER"]},
	{"node": {"username": %q}, "sources": ["PROJECT_USER"]}]}}`, userName)

var queryCases = []queryCase{
	// viewer and user(id)
	{name: "viewer anonymously", anonymous: true, doc: doc(`{ viewer { id } }`), want: data(`{"viewer": null}`)},
	{name: "viewer", doc: doc(`{ viewer { username isActive groups { name } } }`),
		want: data(`{"viewer": {"username": %q, "isActive": true, "groups": []}}`, viewerName)},
	{name: "user: oneself without auth.view_user", doc: doc(`{ user(id: %q) { username } }`, func(f *qFixture) any { return f.viewer.gid() }),
		want: data(`{"user": {"username": %q}}`, viewerName)},
	{name: "user: another without auth.view_user", doc: doc(`{ user(id: %q) { username } }`, userID),
		err: forbidden("user", authz.PermViewUser)},
	// A user's groups follow group(id)'s rule: auth.view_group as well.
	{name: "user: another with auth.view_user", global: []string{authz.PermViewUser, authz.PermViewGroup},
		doc:  doc(`{ user(id: %q) { username isSuperuser groups { name } } }`, userID),
		want: data(`{"user": {"username": %q, "isSuperuser": false, "groups": [{"name": %q}]}}`, userName, groupName)},
	{name: "user: another's groups without auth.view_group", global: []string{authz.PermViewUser},
		doc:  doc(`{ user(id: %q) { username isSuperuser groups { name } } }`, userID),
		want: data(`{"user": {"username": %q, "isSuperuser": false, "groups": null}}`, userName),
		err:  forbidden("user.groups", authz.PermViewGroup)},
	{name: "user: another anonymously", anonymous: true, doc: doc(`{ user(id: %q) { username } }`, userID),
		err: unauthenticated("user")},

	// users, group, groups
	{name: "users without auth.view_user", global: []string{authz.PermViewGroup}, doc: doc(`{ users { totalCount } }`),
		err: forbidden("users", authz.PermViewUser)},
	{name: "users anonymously", anonymous: true, doc: doc(`{ users { totalCount } }`), err: unauthenticated("users")},
	{name: "users with auth.view_user", global: []string{authz.PermViewUser},
		doc:  doc(`{ users(first: 1) { edges { node { username } } pageInfo { hasNextPage } } }`),
		want: data(`{"users": {"edges": [{"node": {"username": "root"}}], "pageInfo": {"hasNextPage": true}}}`)},
	{name: "group without auth.view_group", global: []string{authz.PermViewUser},
		doc: doc(`{ group(id: %q) { name } }`, func(f *qFixture) any { return gid(f.group.ID) }),
		err: forbidden("group", authz.PermViewGroup)},
	{name: "group with auth.view_group", global: []string{authz.PermViewGroup},
		doc:  doc(`{ group(id: %q) { name } }`, func(f *qFixture) any { return gid(f.group.ID) }),
		want: data(`{"group": {"name": %q}}`, groupName)},
	{name: "groups without auth.view_group", global: []string{authz.PermViewUser}, doc: doc(`{ groups { totalCount } }`),
		err: forbidden("groups", authz.PermViewGroup)},
	{name: "groups anonymously", anonymous: true, doc: doc(`{ groups { totalCount } }`), err: unauthenticated("groups")},
	{name: "groups with auth.view_group", global: []string{authz.PermViewGroup},
		doc: doc(`{ groups(first: 100) { totalCount edges { node { name } } } }`),
		want: func(t *testing.T, h *harness, f *qFixture) string {
			gs, err := h.store.Groups(h.ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			edges := make([]string, len(gs))
			for i, g := range gs {
				edges[i] = fmt.Sprintf(`{"node": {"name": %q}}`, g.Name)
			}
			return fmt.Sprintf(`{"groups": {"totalCount": %d, "edges": [%s]}}`, len(gs), strings.Join(edges, ","))
		}},

	// Questions about oneself need nothing.
	{name: "hasPerm about oneself", doc: doc(`{ a: hasPerm(perm: "projects.view_page") b: hasPerm(perm: "auth.view_user", user: %q) }`,
		func(f *qFixture) any { return f.viewer.gid() }),
		want: data(`{"a": false, "b": false}`)},
	{name: "hasPerm about oneself, held", global: []string{authz.PermViewUser}, doc: doc(`{ hasPerm(perm: "auth.view_user") }`),
		want: data(`{"hasPerm": true}`)},
	{name: "hasProjectPerm about oneself", inP: []string{authz.PermAddPage},
		doc:  doc(`{ a: hasProjectPerm(perm: "projects.add_page", project: %q) b: hasProjectPerm(perm: "projects.view_page", project: %[1]q) }`, pID),
		want: data(`{"a": true, "b": false}`)},
	{name: "check about oneself", inP: []string{authz.PermAddPage},
		doc:  doc(`{ check(input: {perm: "projects.add_page", project: %q}) { allowed permission reason } }`, pID),
		want: data(`{"check": {"allowed": true, "permission": "projects.add_page", "reason": "PROJECT_USER"}}`)},
	{name: "checkMany anonymously", anonymous: true,
		doc:  doc(`{ checkMany(inputs: [{perm: "projects.add_page", project: %q}, {perm: "auth.view_user"}]) { allowed reason } }`, pID),
		want: data(`{"checkMany": [{"allowed": false, "reason": "ANONYMOUS"}, {"allowed": false, "reason": "ANONYMOUS"}]}`)},
	{name: "projectPermissions about oneself", inP: []string{authz.PermViewProject},
		doc:  doc(`{ projectPermissions(project: %q) }`, pID),
		want: data(`{"projectPermissions": ["projects.view_project"]}`)},
	// The projects it lists follow project(id)'s rule: view_project there.
	{name: "projectsWithPerm about oneself", inP: []string{authz.PermAddPage, authz.PermViewProject},
		doc:  doc(`{ projectsWithPerm(perm: "projects.add_page") { totalCount edges { node { id } } } }`),
		want: data(`{"projectsWithPerm": {"totalCount": 1, "edges": [{"node": {"id": %q}}]}}`, pID)},
	{name: "projectsWithPerm about oneself, a project one may not view", inP: []string{authz.PermAddPage},
		doc:  doc(`{ projectsWithPerm(perm: "projects.add_page") { totalCount edges { node { id } } } }`),
		want: data(`{"projectsWithPerm": {"totalCount": 1, "edges": [{"node": null}]}}`),
		err:  forbiddenInP("projectsWithPerm.edges.0.node", authz.PermViewProject)},
	{name: "apiTokens of oneself", doc: doc(`{ apiTokens { name revokedAt } }`),
		want: data(`{"apiTokens": [{"name": "fixture", "revokedAt": null}]}`)},
	{name: "apiTokens anonymously", anonymous: true, doc: doc(`{ apiTokens { name } }`), err: unauthenticated("apiTokens")},

	// Questions about another user need auth.view_user.
	{name: "hasPerm about another without auth.view_user", doc: doc(`{ hasPerm(perm: "projects.view_page", user: %q) }`, userID),
		err: forbidden("hasPerm", authz.PermViewUser)},
	{name: "hasPerm about another", global: []string{authz.PermViewUser},
		doc:  doc(`{ a: hasPerm(perm: "projects.view_page", user: %q) b: hasPerm(perm: "projects.publish_page", user: %[1]q) }`, userID),
		want: data(`{"a": true, "b": false}`)},
	{name: "hasPerm about another anonymously", anonymous: true,
		doc: doc(`{ hasPerm(perm: "projects.view_page", user: %q) }`, userID), err: unauthenticated("hasPerm")},
	{name: "hasProjectPerm about another without auth.view_user", inP: []string{authz.PermManageMembers},
		doc: doc(`{ hasProjectPerm(perm: "projects.publish_page", project: %q, user: %q) }`, pID, userID),
		err: forbidden("hasProjectPerm", authz.PermViewUser)},
	{name: "hasProjectPerm about another", global: []string{authz.PermViewUser},
		doc: doc(`{ p: hasProjectPerm(perm: "projects.publish_page", project: %q, user: %q) q: hasProjectPerm(perm: "projects.publish_page", project: %q, user: %[2]q) }`,
			pID, userID, func(f *qFixture) any { return gid(f.q.ID) }),
		want: data(`{"p": true, "q": false}`)},
	{name: "check about another without auth.view_user",
		doc: doc(`{ check(input: {perm: "projects.publish_page", project: %q, user: %q}) { allowed } }`, pID, userID),
		err: forbidden("check", authz.PermViewUser)},
	{name: "check about another", global: []string{authz.PermViewUser},
		doc:  doc(`{ check(input: {perm: "projects.publish_page", project: %q, user: %q}) { allowed permission reason } }`, pID, userID),
		want: data(`{"check": {"allowed": true, "permission": "projects.publish_page", "reason": "PROJECT_USER"}}`)},
	{name: "checkMany about another without auth.view_user",
		doc: doc(`{ checkMany(inputs: [{perm: "projects.view_page", user: %q}]) { allowed } }`, userID),
		err: forbidden("checkMany", authz.PermViewUser)},
	{name: "checkMany about another", global: []string{authz.PermViewUser},
		doc: doc(`{ checkMany(inputs: [{perm: "projects.publish_page", project: %q, user: %q}, {perm: "projects.view_page", user: %[2]q},
			{perm: "projects.delete_page", project: %[1]q, user: %[2]q}, {perm: "projects.view_page", project: %[1]q, user: %[2]q}]) { allowed permission reason } }`, pID, userID),
		want: data(`{"checkMany": [{"allowed": true, "permission": "projects.publish_page", "reason": "PROJECT_USER"},
			{"allowed": true, "permission": "projects.view_page", "reason": "GLOBAL_USER"},
			{"allowed": false, "permission": "projects.delete_page", "reason": "NO_GRANT"},
			{"allowed": true, "permission": "projects.view_page", "reason": "GLOBAL_USER"}]}`)},
	{name: "projectPermissions about another without auth.view_user", inP: []string{authz.PermManageMembers},
		doc: doc(`{ projectPermissions(project: %q, user: %q) }`, pID, userID),
		err: forbidden("projectPermissions", authz.PermViewUser)},
	{name: "projectPermissions about another", global: []string{authz.PermViewUser},
		doc:  doc(`{ projectPermissions(project: %q, user: %q) }`, pID, userID),
		want: data(`{"projectPermissions": ["projects.publish_page", "projects.view_page"]}`)},
	{name: "projectsWithPerm about another without auth.view_user",
		doc: doc(`{ projectsWithPerm(perm: "projects.publish_page", user: %q) { totalCount } }`, userID),
		err: forbidden("projectsWithPerm", authz.PermViewUser)},
	{name: "projectsWithPerm about another", global: []string{authz.PermViewUser, authz.PermViewProject},
		doc:  doc(`{ projectsWithPerm(perm: "projects.publish_page", user: %q) { totalCount edges { node { id } } pageInfo { hasNextPage } } }`, userID),
		want: data(`{"projectsWithPerm": {"totalCount": 1, "edges": [{"node": {"id": %q}}], "pageInfo": {"hasNextPage": false}}}`, pID)},
	{name: "apiTokens of another without auth.view_user", global: []string{authz.PermChangeUser},
		doc: doc(`{ apiTokens(user: %q) { name } }`, userID), err: forbidden("apiTokens", authz.PermViewUser)},
	{name: "apiTokens of another", global: []string{authz.PermViewUser},
		doc:  doc(`{ apiTokens(user: %q) { name revokedAt } }`, userID),
		want: data(`{"apiTokens": [{"name": "fixture", "revokedAt": null}]}`)},

	// Who holds what in a project: projects.manage_members there, or auth.view_user.
	{name: "usersWithProjectPerm without either", global: []string{authz.PermViewGroup}, inP: []string{authz.PermViewProject},
		doc: doc(usersWithPublishDoc, pID), err: forbiddenInP("usersWithProjectPerm", authz.PermManageMembers)},
	{name: "usersWithProjectPerm managing members in another project", inQ: []string{authz.PermManageMembers},
		doc: doc(usersWithPublishDoc, pID), err: forbiddenInP("usersWithProjectPerm", authz.PermManageMembers)},
	{name: "usersWithProjectPerm anonymously", anonymous: true,
		doc: doc(usersWithPublishDoc, pID), err: unauthenticated("usersWithProjectPerm")},
	{name: "usersWithProjectPerm managing members", inP: []string{authz.PermManageMembers},
		doc: doc(usersWithPublishDoc, pID), want: usersWithPublish},
	{name: "usersWithProjectPerm with auth.view_user", global: []string{authz.PermViewUser},
		doc: doc(usersWithPublishDoc, pID), want: usersWithPublish},
	{name: "projectGrants without either", inP: []string{authz.PermViewProject, authz.PermViewPage},
		doc: doc(projectGrantsDoc, pID), err: forbiddenInP("projectGrants", authz.PermManageMembers)},
	{name: "projectGrants managing members in another project", inQ: []string{authz.PermManageMembers},
		doc: doc(projectGrantsDoc, pID), err: forbiddenInP("projectGrants", authz.PermManageMembers)},
	{name: "projectGrants anonymously", anonymous: true, doc: doc(projectGrantsDoc, pID), err: unauthenticated("projectGrants")},
	{name: "projectGrants managing members", inP: []string{authz.PermManageMembers},
		doc: doc(projectGrantsDoc, pID), want: grantsOfP(true)},
	{name: "projectGrants with auth.view_user", global: []string{authz.PermViewUser},
		doc: doc(projectGrantsDoc, pID), want: grantsOfP(false)},

	// Projects and pages.
	{name: "project without projects.view_project", inP: []string{authz.PermViewPage, authz.PermManageMembers},
		doc: doc(`{ project(id: %q) { name } }`, pID), err: forbiddenInP("project", authz.PermViewProject)},
	{name: "project viewable only in another project", inQ: []string{authz.PermViewProject},
		doc: doc(`{ project(id: %q) { name } }`, pID), err: forbiddenInP("project", authz.PermViewProject)},
	{name: "project anonymously", anonymous: true, doc: doc(`{ project(id: %q) { name } }`, pID), err: unauthenticated("project")},
	{name: "project with projects.view_project there", inP: []string{authz.PermViewProject},
		doc: doc(`{ project(id: %q) { id name } }`, pID), want: data(`{"project": {"id": %q, "name": %q}}`, pID, pName)},
	{name: "project with projects.view_project globally", global: []string{authz.PermViewProject},
		doc: doc(`{ project(id: %q) { id name } }`, pID), want: data(`{"project": {"id": %q, "name": %q}}`, pID, pName)},
	{name: "page without projects.view_page", inP: []string{authz.PermViewProject},
		doc: doc(`{ page(id: %q) { title } }`, func(f *qFixture) any { return gid(f.page.ID) }),
		err: forbiddenInP("page", authz.PermViewPage)},
	{name: "page anonymously", anonymous: true,
		doc: doc(`{ page(id: %q) { title } }`, func(f *qFixture) any { return gid(f.page.ID) }), err: unauthenticated("page")},
	// A page's project follows project(id)'s rule: view_project as well.
	{name: "page with projects.view_page", inP: []string{authz.PermViewPage, authz.PermViewProject},
		doc:  doc(`{ page(id: %q) { title project { id } } }`, func(f *qFixture) any { return gid(f.page.ID) }),
		want: data(`{"page": {"title": "fixture page", "project": {"id": %q}}}`, pID)},
	{name: "page with projects.view_page, its project without projects.view_project", inP: []string{authz.PermViewPage},
		doc:  doc(`{ page(id: %q) { title project { id } } }`, func(f *qFixture) any { return gid(f.page.ID) }),
		want: data(`{"page": {"title": "fixture page", "project": null}}`),
		err:  forbiddenInP("page.project", authz.PermViewProject)},
	{name: "Project.pages without projects.view_page", inP: []string{authz.PermViewProject},
		doc:  doc(`{ project(id: %q) { name pages { totalCount } } }`, pID),
		err:  forbiddenInP("project.pages", authz.PermViewPage),
		want: data(`{"project": {"name": %q, "pages": null}}`, pName)},
	{name: "Project.pages with projects.view_page", inP: []string{authz.PermViewProject, authz.PermViewPage},
		doc:  doc(`{ project(id: %q) { pages { totalCount edges { node { title } } pageInfo { hasNextPage } } } }`, pID),
		want: data(`{"project": {"pages": {"totalCount": 1, "edges": [{"node": {"title": "fixture page"}}], "pageInfo": {"hasNextPage": false}}}}`)},
	{name: "viewerPermissions and viewerCan", inP: []string{authz.PermViewProject, authz.PermAddPage},
		doc:  doc(`{ project(id: %q) { viewerPermissions add: viewerCan(perm: "projects.add_page") del: viewerCan(perm: "projects.delete_page") user: viewerCan(perm: "auth.view_user") } }`, pID),
		want: data(`{"project": {"viewerPermissions": ["projects.add_page", "projects.view_project"], "add": true, "del": false, "user": false}}`)},
	{name: "viewerPermissions with global permissions", global: []string{authz.PermViewProject, authz.PermViewUser},
		doc:  doc(`{ project(id: %q) { viewerPermissions viewerCan(perm: "auth.view_user") } }`, pID),
		want: data(`{"project": {"viewerPermissions": ["auth.view_user", "projects.view_project"], "viewerCan": true}}`)},
}

// TestQueryAuthorization runs every query of the schema, allowed and
// denied: questions about oneself need nothing, questions about another
// user need auth.view_user, and project data needs the projects.*
// permission the schema names, in that project.
func TestQueryAuthorization(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		for _, c := range queryCases {
			t.Run(c.name, func(t *testing.T) {
				f := h.newQFixture(t, c)
				q := c.doc(f)
				token := f.viewer.Token
				if c.anonymous {
					token = ""
				}
				res := h.do(t, token, q)
				if c.err == nil {
					wantData(t, q, res, c.want(t, h, f))
					return
				}
				wantError(t, q, res, c.err(f))
				if c.want != nil && normJSON(t, string(res.Data)) != normJSON(t, c.want(t, h, f)) {
					t.Errorf("%s: data = %s, want %s", q, res.Data, normJSON(t, c.want(t, h, f)))
				}
			})
		}
	})
}

// TestListsAndPagination: projects lists only what the viewer may view,
// with a total over all pages, and every list pages through first/after.
func TestListsAndPagination(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		var ps []authz.Project
		for i := range 5 {
			ps = append(ps, h.mustProject(t, fmt.Sprintf("p%d", i)))
		}
		viewers := h.mustGroup(t, "viewers")
		v := h.mustUser(t, "v")
		h.join(t, v.ID, viewers.ID)
		h.grantProject(t, authz.Holder{User: v.ID}, ps[0].ID, authz.PermViewProject)
		h.grantProject(t, authz.Holder{Group: viewers.ID}, ps[2].ID, authz.PermViewProject)
		h.grantProject(t, authz.Holder{User: v.ID}, ps[3].ID, authz.PermViewProject, authz.PermAddPage)
		h.grantProject(t, authz.Holder{User: v.ID}, ps[4].ID, authz.PermAddPage, authz.PermViewPage) // no view_project
		globalViewer := h.mustUser(t, "gv", authz.PermViewProject)

		const page = `query($after: String) { projects(first: 2, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`
		t.Run("projects, page by page", func(t *testing.T) {
			got := collectProjects(t, h, v.Token, page, 3)
			want := []string{gid(ps[0].ID), gid(ps[2].ID), gid(ps[3].ID)}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("projects as v = %v, want %v", got, want)
			}
		})
		t.Run("projects with a global grant", func(t *testing.T) {
			got := collectProjects(t, h, globalViewer.Token, page, 5)
			if len(got) != 5 {
				t.Errorf("projects as a global viewer = %v, want all 5", got)
			}
		})
		t.Run("projects as a superuser", func(t *testing.T) {
			if got := collectProjects(t, h, h.root.Token, page, 5); len(got) != 5 {
				t.Errorf("projects as a superuser = %v, want all 5", got)
			}
		})
		t.Run("projects anonymously", func(t *testing.T) {
			q := `{ projects { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }`
			wantData(t, q, h.do(t, "", q), `{"projects": {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}`)
		})
		t.Run("projects of a user with nothing", func(t *testing.T) {
			nobody := h.mustUser(t, "nobody")
			q := `{ projects { totalCount edges { node { id } } } }`
			wantData(t, q, h.do(t, nobody.Token, q), `{"projects": {"totalCount": 0, "edges": []}}`)
		})
		t.Run("projectsWithPerm page by page", func(t *testing.T) {
			// v may add pages in P3 and P4 but view only P3: paged by
			// cursors, then the nodes, P4's null (deliberate since the
			// visibility rules: a listed project follows project(id)'s rule).
			q := `query($after: String) { projects: projectsWithPerm(perm: "projects.add_page", first: 1, after: $after) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }`
			cursors := collect(t, h, v.Token, q, "projects", 2, func(e json.RawMessage) string {
				var c struct{ Cursor string }
				json.Unmarshal(e, &c)
				return c.Cursor
			})
			if len(cursors) != 2 || cursors[0] == cursors[1] {
				t.Errorf("projectsWithPerm(add_page) as v paged by 1: cursors %v, want 2 distinct", cursors)
			}
			nq := `{ projectsWithPerm(perm: "projects.add_page") { totalCount edges { node { id } } } }`
			res := h.do(t, v.Token, nq)
			wantError(t, nq, res, errWant{code: "FORBIDDEN", path: "projectsWithPerm.edges.1.node", perm: authz.PermViewProject,
				project: gid(ps[4].ID), msg: []string{authz.PermViewProject}})
			want := fmt.Sprintf(`{"projectsWithPerm": {"totalCount": 2, "edges": [{"node": {"id": %q}}, {"node": null}]}}`, gid(ps[3].ID))
			if normJSON(t, string(res.Data)) != normJSON(t, want) {
				t.Errorf("%s as v: data = %s, want %s", nq, res.Data, normJSON(t, want))
			}
		})
		t.Run("users page by page", func(t *testing.T) {
			q := `query($after: String) { users(first: 2, after: $after) { totalCount edges { cursor node { username } } pageInfo { hasNextPage endCursor } } }`
			total, err := h.store.CountUsers(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := collect(t, h, h.root.Token, q, "users", int(total), func(e json.RawMessage) string {
				var node struct{ Node struct{ Username string } }
				json.Unmarshal(e, &node)
				return node.Node.Username
			})
			want := []string{"root", v.Username, globalViewer.Username}
			if strings.Join(got[:3], ",") != strings.Join(want, ",") {
				t.Errorf("users = %v, want %v first", got, want)
			}
		})
		t.Run("pages page by page", func(t *testing.T) {
			for i := range 3 {
				h.mustPage(t, ps[4].ID, fmt.Sprintf("page %d", i))
			}
			q := fmt.Sprintf(`query($after: String) { project(id: %q) { pages(first: 2, after: $after) { totalCount edges { cursor node { title } } pageInfo { hasNextPage endCursor } } } }`, gid(ps[4].ID))
			got := collect(t, h, h.root.Token, q, "project.pages", 3, func(e json.RawMessage) string {
				var node struct{ Node struct{ Title string } }
				json.Unmarshal(e, &node)
				return node.Node.Title
			})
			if strings.Join(got, ",") != "page 0,page 1,page 2" {
				t.Errorf("pages = %v, want page 0, page 1, page 2", got)
			}
		})
	})
}

// collectProjects pages through a ProjectConnection aliased projects.
func collectProjects(t *testing.T, h *harness, token, query string, total int) []string {
	t.Helper()
	return collect(t, h, token, query, "projects", total, func(e json.RawMessage) string {
		var node struct{ Node struct{ ID string } }
		json.Unmarshal(e, &node)
		return node.Node.ID
	})
}

// collect pages through the connection at path (dot-joined) with $after,
// checking on every page that totalCount is total, that each edge's
// cursor continues the list, and that hasNextPage is true exactly until the
// last page; it returns what key says of each node.
func collect(t *testing.T, h *harness, token, query, path string, total int, key func(json.RawMessage) string) []string {
	t.Helper()
	var out []string
	var after any
	for pages := 0; ; pages++ {
		if pages > total+1 {
			t.Fatalf("%s: more pages than items", query)
		}
		res := h.do(t, token, query, "after", after)
		if len(res.Errors) != 0 {
			t.Fatalf("%s after %v = %v, want no errors", query, after, res)
		}
		var v any
		json.Unmarshal(res.Data, &v)
		for _, p := range strings.Split(path, ".") {
			v = v.(map[string]any)[p]
		}
		raw, _ := json.Marshal(v)
		var conn struct {
			TotalCount int
			Edges      []json.RawMessage
			PageInfo   struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
		if err := json.Unmarshal(raw, &conn); err != nil {
			t.Fatal(err)
		}
		if conn.TotalCount != total {
			t.Errorf("%s after %v: totalCount = %d, want %d", query, after, conn.TotalCount, total)
		}
		var lastCursor string
		for _, e := range conn.Edges {
			out = append(out, key(e))
			var c struct{ Cursor string }
			json.Unmarshal(e, &c)
			lastCursor = c.Cursor
		}
		more := len(out) < total
		if conn.PageInfo.HasNextPage != more {
			t.Errorf("%s after %v: hasNextPage = %v, want %v (%d of %d seen)", query, after, conn.PageInfo.HasNextPage, more, len(out), total)
		}
		if len(conn.Edges) > 0 && (conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor != lastCursor) {
			t.Errorf("%s after %v: endCursor = %v, want the last edge's cursor %q", query, after, conn.PageInfo.EndCursor, lastCursor)
		}
		if !conn.PageInfo.HasNextPage || len(conn.Edges) == 0 {
			return out
		}
		after = *conn.PageInfo.EndCursor
	}
}

package graph_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// inputFixture is what the bad-input cases refer to: a plain user, a group
// and a project.
type inputFixture struct {
	user    actor
	group   authz.Group
	project authz.Project
}

// inputCase is a request with one bad input, sent by a superuser so that
// nothing but the input can be refused.
type inputCase struct {
	name string
	doc  func(f *inputFixture) string
	vars []any
	want errWant
}

func fixed(q string) func(*inputFixture) string { return func(*inputFixture) string { return q } }

// unknownID is an id no row has.
const unknownID = "999999"

// cursorOf encodes s the way cursors look, without being one the API gave.
func cursorOf(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func badInput(path string, msg ...string) errWant {
	return errWant{code: "BAD_USER_INPUT", path: path, msg: msg}
}

func notFound(path, kind string) errWant {
	return errWant{code: "NOT_FOUND", path: path, msg: []string{kind + " " + unknownID + " not found"}}
}

var inputCases = []inputCase{
	// Malformed permission names.
	{name: "hasPerm, upper case", doc: fixed(`{ hasPerm(perm: "Projects.View_page") }`),
		want: errWant{code: "MALFORMED_PERMISSION", path: "hasPerm", msg: []string{`malformed permission "Projects.View_page"`, "app_label.codename"}}},
	{name: "hasPerm, no dot", doc: fixed(`{ hasPerm(perm: "view_page") }`),
		want: errWant{code: "MALFORMED_PERMISSION", path: "hasPerm", msg: []string{`"view_page"`}}},
	{name: "check, two dots", doc: fixed(`{ check(input: {perm: "projects.view.page"}) { allowed } }`),
		want: errWant{code: "MALFORMED_PERMISSION", path: "check", msg: []string{`"projects.view.page"`}}},
	{name: "checkMany names the bad check", doc: fixed(`{ checkMany(inputs: [{perm: "projects.view_page"}, {perm: "projects."}]) { allowed } }`),
		want: errWant{code: "MALFORMED_PERMISSION", path: "checkMany", msg: []string{"checks[1]", `"projects."`}}},
	{name: "grantPerm", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantPerm(perm: "projects.view page", user: %q) }`, f.user.gid())
	}, want: errWant{code: "MALFORMED_PERMISSION", path: "grantPerm", msg: []string{`"projects.view page"`}}},
	{name: "viewerCan", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ project(id: %q) { viewerCan(perm: "1projects.view_page") } }`, gid(f.project.ID))
	}, want: errWant{code: "MALFORMED_PERMISSION", path: "project.viewerCan", msg: []string{`"1projects.view_page"`}}},
	{name: "definePermission", doc: fixed(`mutation { definePermission(input: {appLabel: "custom", codename: "Do-It", name: "x"}) { key } }`),
		want: errWant{code: "MALFORMED_PERMISSION", path: "definePermission", msg: []string{`"custom.Do-It"`}}},

	// Unknown permissions.
	{name: "hasPerm, unknown", doc: fixed(`{ hasPerm(perm: "projects.fly") }`),
		want: errWant{code: "UNKNOWN_PERMISSION", path: "hasPerm", msg: []string{`unknown permission "projects.fly"`}}},
	{name: "hasProjectPerm, unknown", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ hasProjectPerm(perm: "auth.fly", project: %q) }`, gid(f.project.ID))
	}, want: errWant{code: "UNKNOWN_PERMISSION", path: "hasProjectPerm", msg: []string{`"auth.fly"`}}},
	{name: "grantProjectPerm, unknown", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.fly", project: %q, user: %q) { users { id } } }`, gid(f.project.ID), f.user.gid())
	}, want: errWant{code: "UNKNOWN_PERMISSION", path: "grantProjectPerm", msg: []string{`"projects.fly"`}}},
	{name: "projectsWithPerm, unknown", doc: fixed(`{ projectsWithPerm(perm: "projects.fly") { totalCount } }`),
		want: errWant{code: "UNKNOWN_PERMISSION", path: "projectsWithPerm", msg: []string{`"projects.fly"`}}},
	{name: "usersWithProjectPerm, unknown", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ usersWithProjectPerm(perm: "projects.fly", project: %q) { totalCount } }`, gid(f.project.ID))
	}, want: errWant{code: "UNKNOWN_PERMISSION", path: "usersWithProjectPerm", msg: []string{`"projects.fly"`}}},
	{name: "viewerCan, unknown", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ project(id: %q) { viewerCan(perm: "projects.fly") } }`, gid(f.project.ID))
	}, want: errWant{code: "UNKNOWN_PERMISSION", path: "project.viewerCan", msg: []string{`"projects.fly"`}}},

	// Unknown ids.
	{name: "user", doc: fixed(`{ user(id: "` + unknownID + `") { id } }`), want: notFound("user", "user")},
	{name: "group", doc: fixed(`{ group(id: "` + unknownID + `") { id } }`), want: notFound("group", "group")},
	{name: "project", doc: fixed(`{ project(id: "` + unknownID + `") { id } }`), want: notFound("project", "project")},
	{name: "page", doc: fixed(`{ page(id: "` + unknownID + `") { id } }`), want: notFound("page", "page")},
	{name: "hasPerm of an unknown user", doc: fixed(`{ hasPerm(perm: "projects.view_page", user: "` + unknownID + `") }`),
		want: notFound("hasPerm", "user")},
	{name: "hasProjectPerm in an unknown project", doc: fixed(`{ hasProjectPerm(perm: "projects.view_page", project: "` + unknownID + `") }`),
		want: notFound("hasProjectPerm", "project")},
	{name: "check of an unknown user", doc: fixed(`{ check(input: {perm: "projects.view_page", user: "` + unknownID + `"}) { allowed } }`),
		want: notFound("check", "user")},
	{name: "projectPermissions in an unknown project", doc: fixed(`{ projectPermissions(project: "` + unknownID + `") }`),
		want: notFound("projectPermissions", "project")},
	{name: "projectsWithPerm of an unknown user", doc: fixed(`{ projectsWithPerm(perm: "projects.view_page", user: "` + unknownID + `") { totalCount } }`),
		want: notFound("projectsWithPerm", "user")},
	{name: "usersWithProjectPerm in an unknown project", doc: fixed(`{ usersWithProjectPerm(perm: "projects.view_page", project: "` + unknownID + `") { totalCount } }`),
		want: notFound("usersWithProjectPerm", "project")},
	{name: "projectGrants of an unknown project", doc: fixed(`{ projectGrants(project: "` + unknownID + `") { users { id } } }`),
		want: notFound("projectGrants", "project")},
	{name: "apiTokens of an unknown user", doc: fixed(`{ apiTokens(user: "` + unknownID + `") { id } }`),
		want: notFound("apiTokens", "user")},
	{name: "updateUser", doc: fixed(`mutation { updateUser(id: "` + unknownID + `", input: {isActive: false}) { id } }`),
		want: notFound("updateUser", "user")},
	{name: "grantPerm to an unknown user", doc: fixed(`mutation { grantPerm(perm: "projects.view_page", user: "` + unknownID + `") }`),
		want: notFound("grantPerm", "user")},
	{name: "grantPerm to an unknown group", doc: fixed(`mutation { grantPerm(perm: "projects.view_page", group: "` + unknownID + `") }`),
		want: notFound("grantPerm", "group")},
	{name: "grantProjectPerm in an unknown project", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { users { id } } }`, unknownID, f.user.gid())
	}, want: notFound("grantProjectPerm", "project")},
	{name: "grantProjectPerm to an unknown group", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, group: %q) { users { id } } }`, gid(f.project.ID), unknownID)
	}, want: notFound("grantProjectPerm", "group")},
	{name: "addUserToGroup, unknown user", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, unknownID, gid(f.group.ID))
	}, want: notFound("addUserToGroup", "user")},
	{name: "addUserToGroup, unknown group", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, f.user.gid(), unknownID)
	}, want: notFound("addUserToGroup", "group")},
	{name: "removeUserFromGroup, unknown group", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { removeUserFromGroup(user: %q, group: %q) { id } }`, f.user.gid(), unknownID)
	}, want: notFound("removeUserFromGroup", "group")},
	{name: "createPage in an unknown project", doc: fixed(`mutation { createPage(input: {project: "` + unknownID + `", title: "t"}) { id } }`),
		want: notFound("createPage", "project")},
	{name: "createApiToken for an unknown user", doc: fixed(`mutation { createApiToken(user: "` + unknownID + `", name: "t") { id } }`),
		want: notFound("createApiToken", "user")},
	{name: "revokeApiToken, unknown", doc: fixed(`mutation { revokeApiToken(id: "` + unknownID + `") }`),
		want: notFound("revokeApiToken", "token")},

	// Exactly one of user and group.
	{name: "grantPerm to a user and a group", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantPerm(perm: "projects.view_page", user: %q, group: %q) }`, f.user.gid(), gid(f.group.ID))
	}, want: badInput("grantPerm", "exactly one of user and group")},
	{name: "grantPerm to neither", doc: fixed(`mutation { grantPerm(perm: "projects.view_page") }`),
		want: badInput("grantPerm", "exactly one of user and group")},
	{name: "revokePerm from neither", doc: fixed(`mutation { revokePerm(perm: "projects.view_page") }`),
		want: badInput("revokePerm", "exactly one of user and group")},
	{name: "grantProjectPerm to a user and a group", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q, group: %q) { users { id } } }`,
			gid(f.project.ID), f.user.gid(), gid(f.group.ID))
	}, want: badInput("grantProjectPerm", "exactly one of user and group")},
	{name: "revokeProjectPerm from neither", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { revokeProjectPerm(perm: "projects.view_page", project: %q) }`, gid(f.project.ID))
	}, want: badInput("revokeProjectPerm", "exactly one of user and group")},

	// Names.
	{name: "username of 151 characters", doc: fixed(`mutation { createUser(input: {username: "` + strings.Repeat("u", 151) + `"}) { id } }`),
		want: badInput("createUser", "username is 151 characters long, at most 150")},
	{name: "empty username", doc: fixed(`mutation { createUser(input: {username: ""}) { id } }`),
		want: badInput("createUser", "username must not be empty")},
	{name: "username with a space", doc: fixed(`mutation { createUser(input: {username: "a b"}) { id } }`),
		want: badInput("createUser", `username "a b" may contain only letters, digits and @ . + - _`)},
	{name: "group name of 151 characters", doc: fixed(`mutation { createGroup(name: "` + strings.Repeat("g", 151) + `") { id } }`),
		want: badInput("createGroup", "group name is 151 characters long, at most 150")},
	{name: "empty group name", doc: fixed(`mutation { createGroup(name: "") { id } }`),
		want: badInput("createGroup", "group name must not be empty")},
	{name: "empty project name", doc: fixed(`mutation { createProject(name: "") { id } }`),
		want: badInput("createProject", "project name must not be empty")},
	{name: "blank project name", doc: fixed(`mutation { createProject(name: "   ") { id } }`),
		want: badInput("createProject", "project name must not be empty")},
	{name: "project name of 201 characters", doc: fixed(`mutation { createProject(name: "` + strings.Repeat("p", 201) + `") { id } }`),
		want: badInput("createProject", "project name is 201 characters long, at most 200")},
	{name: "empty page title", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { createPage(input: {project: %q, title: ""}) { id } }`, gid(f.project.ID))
	}, want: badInput("createPage", "title", "must not be empty")},
	{name: "empty token name", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "") { id } }`, f.user.gid())
	}, want: badInput("createApiToken", "token name must not be empty")},
	{name: "token name of 101 characters", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { createApiToken(user: %q, name: %q) { id } }`, f.user.gid(), strings.Repeat("t", 101))
	}, want: badInput("createApiToken", "token name is 101 characters long, at most 100")},
	{name: "page title of 256 characters", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { createPage(input: {project: %q, title: %q}) { id } }`, gid(f.project.ID), strings.Repeat("t", 256))
	}, want: badInput("createPage", "title", "256 characters long, at most 255")},
	{name: "empty permission name", doc: fixed(`mutation { definePermission(input: {appLabel: "custom", codename: "unnamed", name: ""}) { key } }`),
		want: badInput("definePermission", "permission name must not be empty")},

	// Conflicts.
	{name: "duplicate username", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { createUser(input: {username: %q}) { id } }`, f.user.Username)
	}, want: errWant{code: "CONFLICT", path: "createUser", msg: []string{"username", "is taken"}}},
	{name: "duplicate group name", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { createGroup(name: %q) { id } }`, f.group.Name)
	}, want: errWant{code: "CONFLICT", path: "createGroup", msg: []string{"group name", "is taken"}}},
	{name: "duplicate permission", doc: fixed(`mutation { definePermission(input: {appLabel: "projects", codename: "view_page", name: "again"}) { key } }`),
		want: errWant{code: "CONFLICT", path: "definePermission", msg: []string{"permission projects.view_page exists already"}}},

	// Page sizes.
	{name: "projects, first 0", doc: fixed(`{ projects(first: 0) { totalCount } }`), want: badInput("projects", "first must be between 1 and 100, got 0")},
	{name: "projects, first 101", doc: fixed(`{ projects(first: 101) { totalCount } }`), want: badInput("projects", "first must be between 1 and 100, got 101")},
	{name: "users, first -1", doc: fixed(`{ users(first: -1) { totalCount } }`), want: badInput("users", "got -1")},
	{name: "groups, first 101", doc: fixed(`{ groups(first: 101) { totalCount } }`), want: badInput("groups", "got 101")},
	{name: "projectsWithPerm, first 0", doc: fixed(`{ projectsWithPerm(perm: "projects.view_page", first: 0) { totalCount } }`),
		want: badInput("projectsWithPerm", "got 0")},
	{name: "usersWithProjectPerm, first 101", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ usersWithProjectPerm(perm: "projects.view_page", project: %q, first: 101) { totalCount } }`, gid(f.project.ID))
	}, want: badInput("usersWithProjectPerm", "got 101")},
	{name: "Project.pages, first 0", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ project(id: %q) { pages(first: 0) { totalCount } } }`, gid(f.project.ID))
	}, want: badInput("project.pages", "first must be between 1 and 100, got 0")},

	// Ids of the wrong shape.
	{name: "project id abc", doc: fixed(`{ project(id: "abc") { id } }`), want: badInput("project", `id: "abc" is not a valid id`)},
	{name: "project id -1", doc: fixed(`{ project(id: "-1") { id } }`), want: badInput("project", `id: "-1" is not a valid id`)},
	{name: "project id 0", doc: fixed(`{ project(id: "0") { id } }`), want: badInput("project", `id: "0" is not a valid id`)},
	{name: "page id 1.5", doc: fixed(`{ page(id: "1.5") { id } }`), want: badInput("page", `id: "1.5" is not a valid id`)},
	{name: "user id abc", doc: fixed(`{ user(id: "abc") { id } }`), want: badInput("user", `"abc" is not a valid id`)},
	{name: "hasProjectPerm, project -1", doc: fixed(`{ hasProjectPerm(perm: "projects.view_page", project: "-1") }`),
		want: badInput("hasProjectPerm", `project: "-1" is not a valid id`)},
	{name: "hasPerm, user abc", doc: fixed(`{ hasPerm(perm: "projects.view_page", user: "abc") }`),
		want: badInput("hasPerm", `user: "abc" is not a valid id`)},
	{name: "check, project abc", doc: fixed(`{ check(input: {perm: "projects.view_page", project: "abc"}) { allowed } }`),
		want: badInput("check", `project: "abc" is not a valid id`)},
	{name: "grantProjectPerm, project x", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: "x", user: %q) { users { id } } }`, f.user.gid())
	}, want: badInput("grantProjectPerm", `project: "x" is not a valid id`)},
	{name: "createPage, project 0", doc: fixed(`mutation { createPage(input: {project: "0", title: "t"}) { id } }`),
		want: badInput("createPage", `input.project: "0" is not a valid id`)},
	{name: "deleteProject, id -1", doc: fixed(`mutation { deleteProject(id: "-1") }`),
		want: badInput("deleteProject", `id: "-1" is not a valid id`)},

	// Cursors the API did not give out.
	{name: "projects after a random string", doc: fixed(`{ projects(after: "bogus!") { totalCount } }`),
		want: badInput("projects", `after: "bogus!" is not a cursor this API gave out`)},
	{name: "users after base64 of a bare id", doc: fixed(`{ users(after: "` + cursorOf("5") + `") { totalCount } }`),
		want: badInput("users", "is not a cursor this API gave out")},
	{name: "groups after a negative id", doc: fixed(`{ groups(after: "` + cursorOf("id:-3") + `") { totalCount } }`),
		want: badInput("groups", "is not a cursor this API gave out")},

	// checkMany.
	{name: "checkMany over 1000 checks", doc: fixed(`query($inputs: [CheckInput!]!) { checkMany(inputs: $inputs) { allowed } }`),
		vars: []any{"inputs", checkInputs(1001)},
		want: badInput("checkMany", "checkMany takes at most 1000 checks, got 1001")},
	{name: "checkMany about two users", doc: func(f *inputFixture) string {
		return fmt.Sprintf(`{ checkMany(inputs: [{perm: "projects.view_page"}, {perm: "projects.view_page", user: %q}]) { allowed } }`, f.user.gid())
	}, want: badInput("checkMany", "inputs[1].user", "same user")},
}

func checkInputs(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"perm": "projects.view_page"}
	}
	return out
}

// TestBadInput: every refused input answers its code and a message that
// names the problem, with null where the field would be.
func TestBadInput(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		f := &inputFixture{user: h.mustUser(t, "u"), group: h.mustGroup(t, "g"), project: h.mustProject(t, "p")}
		for _, c := range inputCases {
			t.Run(c.name, func(t *testing.T) {
				q := c.doc(f)
				wantError(t, q, h.do(t, h.root.Token, q, c.vars...), c.want)
			})
		}
		t.Run("username of 150 characters", func(t *testing.T) {
			name := strings.Repeat("u", 150)
			q := fmt.Sprintf(`mutation { createUser(input: {username: %q}) { username } }`, name)
			wantData(t, q, h.do(t, h.root.Token, q), fmt.Sprintf(`{"createUser": {"username": %q}}`, name))
		})
		t.Run("group name of 150 characters", func(t *testing.T) {
			name := strings.Repeat("g", 150)
			q := fmt.Sprintf(`mutation { createGroup(name: %q) { name } }`, name)
			wantData(t, q, h.do(t, h.root.Token, q), fmt.Sprintf(`{"createGroup": {"name": %q}}`, name))
		})
		// Documents gqlgen refuses before any resolver runs: 422, a code, and
		// a message that names the problem.
		for _, c := range []struct{ name, query, msg string }{
			{"parse error", `{ viewer {`, "Expected Name"},
			{"unknown field", `{ nope }`, `"nope"`},
			{"missing argument", `{ hasPerm }`, `"perm"`},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := h.do(t, h.root.Token, c.query)
				if res.Status != 422 || len(res.Errors) != 1 || res.Errors[0].code() != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, c.msg) {
					t.Errorf("%s = %v, want 422 and one BAD_USER_INPUT error naming %s", c.query, res, c.msg)
				}
			})
		}
		t.Run("checkMany of exactly 1000 checks", func(t *testing.T) {
			q := `query($inputs: [CheckInput!]!) { checkMany(inputs: $inputs) { allowed reason } }`
			res := h.do(t, h.root.Token, q, "inputs", checkInputs(1000))
			if len(res.Errors) != 0 || strings.Count(string(res.Data), `"SUPERUSER"`) != 1000 {
				t.Errorf("checkMany(1000 checks) = %d errors %v, want 1000 SUPERUSER decisions", len(res.Errors), res.Errors)
			}
		})
		// Deleting what does not exist is no error: the schema says false.
		for _, field := range []string{"deleteUser", "deleteGroup", "deleteProject"} {
			t.Run(field+" of an unknown id", func(t *testing.T) {
				q := fmt.Sprintf(`mutation { %s(id: %q) }`, field, unknownID)
				wantData(t, q, h.do(t, h.root.Token, q), fmt.Sprintf(`{%q: false}`, field))
			})
		}
		// deletePage's guard needs the page's project, so an unknown page
		// is NOT_FOUND: answering false would have to skip the check.
		t.Run("deletePage of an unknown id", func(t *testing.T) {
			q := fmt.Sprintf(`mutation { deletePage(id: %q) }`, unknownID)
			wantError(t, q, h.do(t, h.root.Token, q), errWant{code: "NOT_FOUND", path: "deletePage", msg: []string{"page " + unknownID + " not found"}})
		})
		t.Run("revokeProjectPerm of what was never granted", func(t *testing.T) {
			q := fmt.Sprintf(`mutation { revokeProjectPerm(perm: "projects.view_page", project: %q, user: %q) }`, gid(f.project.ID), f.user.gid())
			wantData(t, q, h.do(t, h.root.Token, q), `{"revokeProjectPerm": false}`)
		})
		t.Run("revokePerm of what was never granted", func(t *testing.T) {
			q := fmt.Sprintf(`mutation { revokePerm(perm: "projects.view_page", group: %q) }`, gid(f.group.ID))
			wantData(t, q, h.do(t, h.root.Token, q), `{"revokePerm": false}`)
		})
		t.Run("grantPerm twice", func(t *testing.T) {
			q := fmt.Sprintf(`mutation { a: grantPerm(perm: "projects.view_page", user: %[1]q) b: grantPerm(perm: "projects.view_page", user: %[1]q) }`, f.user.gid())
			wantData(t, q, h.do(t, h.root.Token, q), `{"a": true, "b": true}`)
		})
	})
}

// leaks lists what an error shown to a client must never contain: SQL,
// driver words, table names.
var leaks = []string{"select", "sql", "sqlstate", "from ", "relation", "no such table", "pgx", "gorm",
	"users", "groups", "projects", "pages", "api_tokens", "permissions", "user_groups", "project_permission"}

func wantNoLeak(t *testing.T, query string, res response) {
	t.Helper()
	for _, e := range res.Errors {
		lower := strings.ToLower(e.Message)
		for _, l := range leaks {
			if strings.Contains(lower, l) {
				t.Errorf("%s: error message %q leaks %q", query, e.Message, l)
			}
		}
	}
}

// asViewer serves the GraphQL handler alone, with u as every request's
// viewer: for requests that cannot authenticate, the database being gone.
func asViewer(h *harness, u authz.User) *client.Client {
	gql, err := graph.NewGraphQLHandler(h.ctx, h.engine, h.store)
	if err != nil {
		h.t.Fatalf("NewGraphQLHandler() = %v", err)
	}
	return client.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gql.ServeHTTP(w, r.WithContext(graph.WithViewer(authz.WithRequestCache(r.Context()), u)))
	}))
}

// TestInternalErrorsDoNotLeak: with the database closed, or a table gone,
// every request fails closed (an error and null, never an answer) with
// UNAVAILABLE or INTERNAL and a message that shows no SQL.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	signedIn := []struct {
		query string
		path  string
	}{
		{`{ hasProjectPerm(perm: "projects.view_page", project: "1") }`, "hasProjectPerm"},
		{`{ hasPerm(perm: "projects.view_page", user: "2") }`, "hasPerm"},
		{`{ users { totalCount } }`, "users"},
		{`{ project(id: "1") { name } }`, "project"},
		{`{ page(id: "1") { title } }`, "page"},
		{`mutation { createGroup(name: "g2") { id } }`, "createGroup"},
		{`mutation { grantProjectPerm(perm: "projects.view_page", project: "1", user: "2") { users { id } } }`, "grantProjectPerm"},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		t.Run("database closed", func(t *testing.T) {
			h := newHarness(t, db)
			u := h.mustUser(t, "u")
			p := h.mustProject(t, "p")
			h.mustPage(t, p.ID, "t")
			if err := h.db.Close(); err != nil {
				t.Fatal(err)
			}
			c := asViewer(h, h.root.User)
			for _, s := range signedIn {
				t.Run(s.path, func(t *testing.T) {
					res := h.doWith(t, c, s.query)
					wantError(t, s.query, res, errWant{code: "UNAVAILABLE", path: s.path, msg: []string{"cannot reach its database"}})
					wantNoLeak(t, s.query, res)
				})
			}
			t.Run("anonymous", func(t *testing.T) {
				// An anonymous caller's answer needs no database (nor
				// says what exists): the same with it gone.
				q := `{ page(id: "1") { title } }`
				res := h.do(t, "", q)
				wantError(t, q, res, errWant{code: "UNAUTHENTICATED", path: "page", msg: []string{"sign in to read a page"}})
				wantNoLeak(t, q, res)
			})
			t.Run("bearer token", func(t *testing.T) {
				q := `{ viewer { id } }`
				res := h.do(t, u.Token, q)
				if res.Status != http.StatusServiceUnavailable {
					t.Errorf("%s with a token and no database = %v, want 503", q, res)
				}
				wantError(t, q, res, errWant{code: "UNAVAILABLE", msg: []string{"could not check the bearer token"}})
				wantNoLeak(t, q, res)
			})
		})
		t.Run("table gone", func(t *testing.T) {
			h := newHarness(t, dbtest.Open(t, db.Dialect))
			u := h.mustUser(t, "u")
			p := h.mustProject(t, "p")
			h.mustPage(t, p.ID, "t")
			dbtest.MustExec(t, h.db, "DROP TABLE pages")
			dbtest.MustExec(t, h.db, "DROP TABLE project_permission_users")
			for _, s := range []struct{ query, path string }{
				{`{ page(id: "1") { title } }`, "page"},
				{fmt.Sprintf(`{ hasProjectPerm(perm: "projects.view_page", project: %q, user: %q) }`, gid(p.ID), u.gid()), "hasProjectPerm"},
				{fmt.Sprintf(`mutation { createPage(input: {project: %q, title: "x"}) { id } }`, gid(p.ID)), "createPage"},
			} {
				t.Run(s.path, func(t *testing.T) {
					res := h.do(t, h.root.Token, s.query)
					wantError(t, s.query, res, errWant{code: "INTERNAL", path: s.path, msg: []string{"internal error"}})
					wantNoLeak(t, s.query, res)
				})
			}
		})
	})
}

package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// need is a permission a viewer must hold: globally, or in the case's project.
type need struct {
	perm      string
	inProject bool
}

func global(perm string) need    { return need{perm: perm} }
func inProject(perm string) need { return need{perm: perm, inProject: true} }

// fixture is what one case works on, all fresh: a viewer holding some
// permissions, a project with one page, a plain user with a token, a group,
// and an unused name.
type fixture struct {
	viewer  actor
	project authz.Project
	page    authz.Page
	user    actor
	group   authz.Group
	name    string
}

// newFixture makes a fixture whose viewer holds needs, globally or in the
// fixture's project.
func (h *harness) newFixture(t *testing.T, needs []need) *fixture {
	t.Helper()
	f := &fixture{
		project: h.mustProject(t, "p"),
		user:    h.mustUser(t, "user"),
		group:   h.mustGroup(t, "group"),
		name:    dbtest.Name("new"),
	}
	f.page = h.mustPage(t, f.project.ID, "fixture page")
	var perms []string
	for _, n := range needs {
		if !n.inProject {
			perms = append(perms, n.perm)
		}
	}
	f.viewer = h.mustUser(t, "viewer", perms...)
	for _, n := range needs {
		if n.inProject {
			h.grantProject(t, authz.Holder{User: f.viewer.ID}, f.project.ID, n.perm)
		}
	}
	return f
}

// mutationCase is one admin mutation with the permissions it needs.
type mutationCase struct {
	name      string
	field     string // the mutation's field, the path of its errors
	needs     []need
	superuser bool // needs an active superuser, whatever the viewer holds
	setup     func(t *testing.T, h *harness, f *fixture)
	// doc returns the mutation and the data it answers when allowed.
	doc func(f *fixture) (query, want string)
	// done reports whether the mutation's effect is in the database.
	done func(t *testing.T, h *harness, f *fixture) bool
}

// publish is the permission the grant mutations grant and revoke: nobody
// holds it in a fresh fixture.
const publish = "projects.publish_page"

var mutationCases = []mutationCase{
	{
		name: "createUser", field: "createUser", needs: []need{global(authz.PermAddUser)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { createUser(input: {username: %q}) { username isActive isSuperuser groups { name } } }`, f.name),
				fmt.Sprintf(`{"createUser": {"username": %q, "isActive": true, "isSuperuser": false, "groups": []}}`, f.name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			_, err := h.store.UserByUsername(h.ctx, f.name)
			return err == nil
		},
	},
	{
		name: "updateUser", field: "updateUser", needs: []need{global(authz.PermChangeUser)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: false}) { id isActive isSuperuser } }`, f.user.gid()),
				fmt.Sprintf(`{"updateUser": {"id": %q, "isActive": false, "isSuperuser": false}}`, f.user.gid())
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			u, _ := h.user(t, f.user.ID)
			return !u.IsActive
		},
	},
	{
		name: "deleteUser", field: "deleteUser", needs: []need{global(authz.PermDeleteUser)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { deleteUser(id: %q) }`, f.user.gid()), `{"deleteUser": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			_, found := h.user(t, f.user.ID)
			return !found
		},
	},
	{
		name: "createGroup", field: "createGroup", needs: []need{global(authz.PermAddGroup)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { createGroup(name: %q) { name } }`, f.name),
				fmt.Sprintf(`{"createGroup": {"name": %q}}`, f.name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return h.groupNamed(t, f.name) },
	},
	{
		name: "deleteGroup", field: "deleteGroup", needs: []need{global(authz.PermDeleteGroup)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { deleteGroup(id: %q) }`, gid(f.group.ID)), `{"deleteGroup": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return !h.groupNamed(t, f.group.Name) },
	},
	{
		name: "addUserToGroup", field: "addUserToGroup", needs: []need{global(authz.PermChangeGroup)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id name } }`, f.user.gid(), gid(f.group.ID)),
				fmt.Sprintf(`{"addUserToGroup": {"id": %q, "name": %q}}`, gid(f.group.ID), f.group.Name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return h.isMember(t, f.user.ID, f.group.ID) },
	},
	{
		name: "removeUserFromGroup", field: "removeUserFromGroup", needs: []need{global(authz.PermChangeGroup)},
		setup: func(t *testing.T, h *harness, f *fixture) { h.join(t, f.user.ID, f.group.ID) },
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { removeUserFromGroup(user: %q, group: %q) { name } }`, f.user.gid(), gid(f.group.ID)),
				fmt.Sprintf(`{"removeUserFromGroup": {"name": %q}}`, f.group.Name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return !h.isMember(t, f.user.ID, f.group.ID) },
	},
	{
		name: "definePermission", field: "definePermission", superuser: true,
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { definePermission(input: {appLabel: "custom", codename: %q, name: "Can do it"}) { key appLabel codename name } }`, f.name),
				fmt.Sprintf(`{"definePermission": {"key": "custom.%s", "appLabel": "custom", "codename": %q, "name": "Can do it"}}`, f.name, f.name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			perms, err := h.store.Permissions(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(perms, func(p authz.Permission) bool { return p.Key() == "custom."+f.name })
		},
	},
	{
		name: "grantPerm to a user", field: "grantPerm", needs: []need{global(authz.PermChangeUser), global(publish)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { grantPerm(perm: %q, user: %q) }`, publish, f.user.gid()), `{"grantPerm": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return h.hasPerm(t, f.user.ID, publish) },
	},
	{
		name: "grantPerm to a group", field: "grantPerm", needs: []need{global(authz.PermChangeGroup), global(publish)},
		setup: func(t *testing.T, h *harness, f *fixture) { h.join(t, f.user.ID, f.group.ID) },
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { grantPerm(perm: %q, group: %q) }`, publish, gid(f.group.ID)), `{"grantPerm": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return h.hasPerm(t, f.user.ID, publish) },
	},
	{
		name: "revokePerm from a user", field: "revokePerm", needs: []need{global(authz.PermChangeUser)},
		setup: func(t *testing.T, h *harness, f *fixture) {
			if err := h.engine.GrantPerm(h.ctx, authz.Holder{User: f.user.ID}, publish); err != nil {
				t.Fatal(err)
			}
		},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { revokePerm(perm: %q, user: %q) }`, publish, f.user.gid()), `{"revokePerm": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return !h.hasPerm(t, f.user.ID, publish) },
	},
	{
		name: "revokePerm from a group", field: "revokePerm", needs: []need{global(authz.PermChangeGroup)},
		setup: func(t *testing.T, h *harness, f *fixture) {
			h.join(t, f.user.ID, f.group.ID)
			if err := h.engine.GrantPerm(h.ctx, authz.Holder{Group: f.group.ID}, publish); err != nil {
				t.Fatal(err)
			}
		},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { revokePerm(perm: %q, group: %q) }`, publish, gid(f.group.ID)), `{"revokePerm": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return !h.hasPerm(t, f.user.ID, publish) },
	},
	{
		name: "grantProjectPerm to a user", field: "grantProjectPerm",
		needs: []need{inProject(authz.PermManageMembers), inProject(publish)},
		// The viewer may view the project too, so that the answer's project
		// is shown: it follows project(id)'s rule (TestGrantAnswerGuarded).
		setup: func(t *testing.T, h *harness, f *fixture) {
			h.grantProject(t, authz.Holder{User: f.viewer.ID}, f.project.ID, authz.PermViewProject)
		},
		doc: func(f *fixture) (string, string) {
			// The viewer holds the permission in the project too, as it must.
			names := []string{f.viewer.Username, f.user.Username}
			sort.Strings(names)
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: %q, project: %q, user: %q) { project { id } permission { key } users { username } groups { name } } }`,
					publish, gid(f.project.ID), f.user.gid()),
				fmt.Sprintf(`{"grantProjectPerm": {"project": {"id": %q}, "permission": {"key": %q}, "users": [{"username": %q}, {"username": %q}], "groups": []}}`,
					gid(f.project.ID), publish, names[0], names[1])
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			return h.hasProjectPerm(t, f.user.ID, publish, f.project.ID)
		},
	},
	{
		name: "grantProjectPerm to a group", field: "grantProjectPerm",
		needs: []need{inProject(authz.PermManageMembers), inProject(publish)},
		setup: func(t *testing.T, h *harness, f *fixture) { h.join(t, f.user.ID, f.group.ID) },
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: %q, project: %q, group: %q) { users { username } groups { name } } }`,
					publish, gid(f.project.ID), gid(f.group.ID)),
				fmt.Sprintf(`{"grantProjectPerm": {"users": [{"username": %q}], "groups": [{"name": %q}]}}`, f.viewer.Username, f.group.Name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			return h.hasProjectPerm(t, f.user.ID, publish, f.project.ID)
		},
	},
	{
		name: "revokeProjectPerm from a user", field: "revokeProjectPerm", needs: []need{inProject(authz.PermManageMembers)},
		setup: func(t *testing.T, h *harness, f *fixture) {
			h.grantProject(t, authz.Holder{User: f.user.ID}, f.project.ID, publish)
		},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { revokeProjectPerm(perm: %q, project: %q, user: %q) }`, publish, gid(f.project.ID), f.user.gid()),
				`{"revokeProjectPerm": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			return !h.hasProjectPerm(t, f.user.ID, publish, f.project.ID)
		},
	},
	{
		name: "revokeProjectPerm from a group", field: "revokeProjectPerm", needs: []need{inProject(authz.PermManageMembers)},
		setup: func(t *testing.T, h *harness, f *fixture) {
			h.join(t, f.user.ID, f.group.ID)
			h.grantProject(t, authz.Holder{Group: f.group.ID}, f.project.ID, publish)
		},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { revokeProjectPerm(perm: %q, project: %q, group: %q) }`, publish, gid(f.project.ID), gid(f.group.ID)),
				`{"revokeProjectPerm": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			return !h.hasProjectPerm(t, f.user.ID, publish, f.project.ID)
		},
	},
	{
		name: "createProject", field: "createProject", needs: []need{global(authz.PermAddProject)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { createProject(name: %q) { name viewerCan(perm: "projects.delete_project") } }`, f.name),
				fmt.Sprintf(`{"createProject": {"name": %q, "viewerCan": true}}`, f.name)
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			// The viewer holds projects.delete_project nowhere but in a
			// project it created.
			n, err := h.engine.CountProjectsWithPerm(h.ctx, f.viewer.ID, authz.PermDeleteProject)
			if err != nil {
				t.Fatal(err)
			}
			return n == 1
		},
	},
	{
		name: "deleteProject", field: "deleteProject", needs: []need{inProject(authz.PermDeleteProject)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { deleteProject(id: %q) }`, gid(f.project.ID)), `{"deleteProject": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			_, err := h.store.Project(h.ctx, f.project.ID)
			return err != nil
		},
	},
	{
		name: "createPage", field: "createPage", needs: []need{inProject(authz.PermAddPage)},
		doc: func(f *fixture) (string, string) {
			// Only __typename: reading the new page's fields back needs
			// projects.view_page as well (see TestDirective).
			return fmt.Sprintf(`mutation { createPage(input: {project: %q, title: %q, body: "hello"}) { __typename } }`, gid(f.project.ID), f.name),
				`{"createPage": {"__typename": "Page"}}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			pages, err := h.store.ProjectPages(h.ctx, f.project.ID, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(pages, func(p authz.Page) bool { return p.Title == f.name })
		},
	},
	{
		name: "deletePage", field: "deletePage", needs: []need{inProject(authz.PermDeletePage)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { deletePage(id: %q) }`, gid(f.page.ID)), `{"deletePage": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool {
			_, err := h.store.Page(h.ctx, f.page.ID)
			return err != nil
		},
	},
	{
		name: "createApiToken for another user", field: "createApiToken", needs: []need{global(authz.PermChangeUser)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "ci") { name } }`, f.user.gid()), `{"createApiToken": {"name": "ci"}}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return len(h.tokens(t, f.user.ID)) == 2 },
	},
	{
		name: "createApiToken for oneself", field: "createApiToken",
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "mine") { name } }`, f.viewer.gid()), `{"createApiToken": {"name": "mine"}}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return len(h.tokens(t, f.viewer.ID)) == 2 },
	},
	{
		name: "revokeApiToken of another user", field: "revokeApiToken", needs: []need{global(authz.PermChangeUser)},
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { revokeApiToken(id: %q) }`, gid(f.user.TokenID)), `{"revokeApiToken": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return h.tokens(t, f.user.ID)[0].RevokedAt != nil },
	},
	{
		name: "revokeApiToken of one's own", field: "revokeApiToken",
		doc: func(f *fixture) (string, string) {
			return fmt.Sprintf(`mutation { revokeApiToken(id: %q) }`, gid(f.viewer.TokenID)), `{"revokeApiToken": true}`
		},
		done: func(t *testing.T, h *harness, f *fixture) bool { return h.tokens(t, f.viewer.ID)[0].RevokedAt != nil },
	},
}

// TestMutationAuthorization runs every mutation of the schema anonymously
// (UNAUTHENTICATED), once without each permission it needs (FORBIDDEN,
// naming the permission), and with all of them (allowed); a refused
// mutation must leave the database as it was.
func TestMutationAuthorization(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		all, err := h.engine.Registry().All(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, mc := range mutationCases {
			t.Run(mc.name, func(t *testing.T) {
				prepare := func(t *testing.T, needs []need) (*fixture, string, string) {
					f := h.newFixture(t, needs)
					if mc.setup != nil {
						mc.setup(t, h, f)
					}
					q, want := mc.doc(f)
					return f, q, want
				}
				t.Run("anonymous", func(t *testing.T) {
					f, q, _ := prepare(t, mc.needs)
					wantError(t, q, h.do(t, "", q), errWant{code: "UNAUTHENTICATED", path: mc.field, msg: []string{"sign in"}})
					if mc.done(t, h, f) {
						t.Errorf("%s anonymously took effect, want no change", q)
					}
				})
				for i, n := range mc.needs {
					t.Run("without "+n.perm, func(t *testing.T) {
						others := slices.Delete(slices.Clone(mc.needs), i, i+1)
						f, q, _ := prepare(t, others)
						w := errWant{code: "FORBIDDEN", path: mc.field, perm: n.perm, msg: []string{n.perm}}
						if n.inProject {
							w.project = gid(f.project.ID)
						}
						wantError(t, q, h.do(t, f.viewer.Token, q), w)
						if mc.done(t, h, f) {
							t.Errorf("%s without %s took effect, want no change", q, n.perm)
						}
					})
				}
				if mc.superuser {
					t.Run("holding every permission but not a superuser", func(t *testing.T) {
						var needs []need
						for _, p := range all {
							needs = append(needs, global(p.Key()))
						}
						f, q, _ := prepare(t, needs)
						wantError(t, q, h.do(t, f.viewer.Token, q), errWant{code: "FORBIDDEN", path: mc.field, msg: []string{"only a superuser may"}})
						if mc.done(t, h, f) {
							t.Errorf("%s by a non-superuser took effect, want no change", q)
						}
					})
				}
				t.Run("allowed", func(t *testing.T) {
					f, q, want := prepare(t, mc.needs)
					token := f.viewer.Token
					if mc.superuser {
						token = h.root.Token
					}
					wantData(t, q, h.do(t, token, q), want)
					if !mc.done(t, h, f) {
						t.Errorf("%s answered but took no effect", q)
					}
				})
			})
		}
	})
}

// TestBadTokens: a bearer token that is unknown, revoked, or belongs to an
// inactive user is refused at the HTTP level with 401 and UNAUTHENTICATED,
// before any resolver runs, for queries and mutations alike: queries whose
// check the token's look-up loads grants for (about another user, in a
// project, a checkMany), and requests refused before any operation runs
// (a syntax error, an unknown field). A refused request leaves no
// decision log and changes nothing.
func TestBadTokens(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		inactive := h.mustUserFlags(t, "inactive", false, false, authz.PermAddGroup)
		inactiveSuper := h.mustUserFlags(t, "inactive_super", false, true)
		revoked := h.mustUser(t, "revoked", authz.PermAddGroup)
		if ok, err := h.store.RevokeToken(h.ctx, revoked.TokenID); !ok || err != nil {
			t.Fatalf("RevokeToken(%d) = %v, %v, want true, nil", revoked.TokenID, ok, err)
		}
		deactivated := h.mustUser(t, "deactivated", authz.PermAddGroup)
		const viewerQuery = `{ viewer { username } }`
		if res := h.do(t, deactivated.Token, viewerQuery); res.Status != 200 {
			t.Fatalf("%s with a fresh token = %v, want 200", viewerQuery, res)
		}
		// Deactivating a user through the API refuses its tokens at once.
		q := fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: false}) { isActive } }`, deactivated.gid())
		wantData(t, q, h.do(t, h.root.Token, q), `{"updateUser": {"isActive": false}}`)

		p := h.mustProject(t, "p")
		h.grantProject(t, authz.Holder{User: h.root.ID}, p.ID, authz.PermViewPage)
		queries := []string{
			viewerQuery,
			`mutation { createGroup(name: "never") { id } }`,
			fmt.Sprintf(`query { hasProjectPerm(perm: %q, project: %q, user: %q) }`, authz.PermViewPage, gid(p.ID), h.root.gid()),
			fmt.Sprintf(`query { checkMany(inputs: [{perm: %q, project: %q, user: %q}]) { allowed } }`, authz.PermViewPage, gid(p.ID), h.root.gid()),
			fmt.Sprintf(`query { project(id: %q) { viewerPermissions } }`, gid(p.ID)),
			`query { viewer { username`,
			`query { nope }`,
		}
		h.flushLogs(t)
		for _, tc := range []struct{ name, token string }{
			{"inactive user", inactive.Token},
			{"inactive superuser", inactiveSuper.Token},
			{"revoked token", revoked.Token},
			{"user deactivated by updateUser", deactivated.Token},
			{"unknown token", "gq_not_a_token"},
		} {
			for i, query := range queries {
				t.Run(fmt.Sprintf("%s/%d %s", tc.name, i, strings.Fields(query)[0]), func(t *testing.T) {
					res := h.do(t, tc.token, query)
					if res.Status != 401 || string(res.Data) != "null" {
						t.Errorf("%s with %s = %v, want 401 and no data", query, tc.name, res)
					}
					wantError(t, query, res, errWant{code: "UNAUTHENTICATED", msg: []string{"token"}})
				})
			}
		}
		if h.groupNamed(t, "never") {
			t.Errorf("createGroup with a refused token created the group")
		}
		if stats, err := h.sink.flush(h.ctx); err != nil || stats.Queued != 0 {
			t.Errorf("refused requests queued %d decision logs (%v), want none", stats.Queued, err)
		}
	})
}

// TestCreatorPermissions: the creator of a project receives there every
// permission of the projects app, and nothing else, and nobody else
// receives anything.
func TestCreatorPermissions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		creator := h.mustUser(t, "creator", authz.PermAddProject)
		other := h.mustUser(t, "other")
		res := h.do(t, creator.Token, `mutation { createProject(name: "mine") { id name } }`)
		var created struct{ CreateProject struct{ ID, Name string } }
		if err := json.Unmarshal(res.Data, &created); err != nil || len(res.Errors) != 0 || created.CreateProject.Name != "mine" {
			t.Fatalf("createProject(mine) = %v, want the project", res)
		}
		pid := created.CreateProject.ID

		// What the registry says the projects app is, from the API itself.
		res = h.do(t, "", `{ permissions { key appLabel } }`)
		var registry struct {
			Permissions []struct{ Key, AppLabel string }
		}
		json.Unmarshal(res.Data, &registry)
		var projectsApp []string
		for _, p := range registry.Permissions {
			if p.AppLabel == "projects" {
				projectsApp = append(projectsApp, p.Key)
			}
		}
		sort.Strings(projectsApp)
		if len(projectsApp) != 10 {
			t.Fatalf("permissions of the projects app = %v, want the 10 of docs/model.md, Built-in permissions", projectsApp)
		}
		wantAll, _ := json.Marshal(projectsApp)

		q := fmt.Sprintf(`{ projectPermissions(project: %q) project(id: %[1]q) { viewerPermissions } }`, pid)
		wantData(t, q, h.do(t, creator.Token, q),
			fmt.Sprintf(`{"projectPermissions": %s, "project": {"viewerPermissions": %[1]s}}`, wantAll))
		q = fmt.Sprintf(`{ projectPermissions(project: %q, user: %q) }`, pid, other.gid())
		wantData(t, q, h.do(t, h.root.Token, q), `{"projectPermissions": []}`)
		// The creator's grants are project grants, not global ones.
		q = `{ hasPerm(perm: "projects.delete_project") projectsWithPerm(perm: "projects.delete_project") { totalCount } }`
		wantData(t, q, h.do(t, creator.Token, q), `{"hasPerm": false, "projectsWithPerm": {"totalCount": 1}}`)
	})
}

// TestAPITokens: apiTokens lists tokens without their secrets; the secret
// createApiToken answers works as a bearer token until revokeApiToken.
func TestAPITokens(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		u := h.mustUser(t, "u")
		admin := h.mustUser(t, "admin", authz.PermChangeUser, authz.PermViewUser)

		q := fmt.Sprintf(`mutation { createApiToken(user: %q, name: "laptop") { id name token } }`, u.gid())
		res := h.do(t, u.Token, q)
		var created struct {
			CreateAPIToken struct{ ID, Name, Token string }
		}
		if err := json.Unmarshal(res.Data, &created); err != nil || len(res.Errors) != 0 {
			t.Fatalf("%s = %v", q, res)
		}
		tok := created.CreateAPIToken
		if tok.Name != "laptop" || !strings.HasPrefix(tok.Token, authz.TokenPrefix) || len(tok.Token) < 40 {
			t.Fatalf("%s = %+v, want a named token with a %s secret", q, tok, authz.TokenPrefix)
		}
		wantData(t, "viewer with the new token", h.do(t, tok.Token, `{ viewer { username } }`),
			fmt.Sprintf(`{"viewer": {"username": %q}}`, u.Username))

		// Listed newest first, by oneself and by a holder of auth.view_user,
		// and the secrets are nowhere in the answer.
		q = `{ apiTokens { id name revokedAt } }`
		list := fmt.Sprintf(`{"apiTokens": [{"id": %q, "name": "laptop", "revokedAt": null}, {"id": %q, "name": "fixture", "revokedAt": null}]}`,
			tok.ID, gid(u.TokenID))
		res = h.do(t, u.Token, q)
		wantData(t, q, res, list)
		for _, secret := range []string{tok.Token, u.Token} {
			if strings.Contains(string(res.Data), secret) {
				t.Errorf("%s = %s, contains a secret", q, res.Data)
			}
		}
		q = fmt.Sprintf(`{ apiTokens(user: %q) { id name revokedAt } }`, u.gid())
		wantData(t, q, h.do(t, admin.Token, q), list)

		// Revoking another user's token needs auth.change_user.
		other := h.mustUser(t, "other")
		q = fmt.Sprintf(`mutation { revokeApiToken(id: %q) }`, tok.ID)
		wantError(t, q, h.do(t, other.Token, q), errWant{code: "FORBIDDEN", path: "revokeApiToken", perm: authz.PermChangeUser, msg: []string{authz.PermChangeUser}})
		wantData(t, "viewer with the token after a refused revoke", h.do(t, tok.Token, `{ viewer { username } }`),
			fmt.Sprintf(`{"viewer": {"username": %q}}`, u.Username))

		// Revoked: refused at once, still listed, with revokedAt; a second
		// revoke answers false.
		wantData(t, q, h.do(t, u.Token, q), `{"revokeApiToken": true}`)
		res = h.do(t, tok.Token, `{ viewer { username } }`)
		if res.Status != 401 {
			t.Errorf("viewer with a revoked token = %v, want 401", res)
		}
		wantError(t, "viewer with a revoked token", res, errWant{code: "UNAUTHENTICATED", msg: []string{"revoked"}})
		res = h.do(t, u.Token, `{ apiTokens { name revokedAt } }`)
		var listed struct {
			APITokens []struct {
				Name      string
				RevokedAt *string
			} `json:"apiTokens"`
		}
		json.Unmarshal(res.Data, &listed)
		if len(listed.APITokens) != 2 || listed.APITokens[0].RevokedAt == nil || listed.APITokens[1].RevokedAt != nil {
			t.Errorf("apiTokens after revoking laptop = %s, want laptop revoked and fixture not", res.Data)
		}
		wantData(t, q, h.do(t, admin.Token, q), `{"revokeApiToken": false}`)
		// The fixture token still works.
		wantData(t, "viewer with the other token", h.do(t, u.Token, `{ viewer { username } }`),
			fmt.Sprintf(`{"viewer": {"username": %q}}`, u.Username))
	})
}

package graph_test

import (
	"fmt"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// escFixture is what an escalation case works on, all fresh: a viewer with
// some permissions, a target user, a group, and two projects P and Q.
type escFixture struct {
	viewer, target actor
	group          authz.Group
	p, q           authz.Project
	name           string
}

// escalationCase is an attempt to gain, or to hand out, more than the
// viewer holds. A refused attempt must change nothing, and the same
// document sent by a superuser must succeed.
type escalationCase struct {
	name             string
	global, inP, inQ []string // what the viewer holds
	groupGlobal      []string // what the group holds globally
	groupInP         []string // what the group holds in P
	viewerInGroup    bool     // the viewer is a member of the group
	targetInGroup    bool     // the target is a member of the group
	targetActive     *bool    // the target's flags; default active
	targetSuper      bool
	field            string
	doc              func(e *escFixture) string
	allowed          bool   // the viewer may: the rule must not over-refuse
	perm             string // the permission the refusal names, if any
	project          string // "P" or "Q" when the refusal names a project
	msg              string
	done             func(t *testing.T, h *harness, e *escFixture) bool
}

var falseValue = false

var escalationCases = []escalationCase{
	// Granting what one lacks, globally.
	{
		name: "grantPerm to oneself of a permission one lacks", global: []string{authz.PermChangeUser},
		field: "grantPerm", perm: authz.PermDeleteUser, msg: "you cannot grant auth.delete_user, which you do not hold yourself",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantPerm(perm: "auth.delete_user", user: %q) }`, e.viewer.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasPerm(t, e.viewer.ID, authz.PermDeleteUser)
		},
	},
	{
		name: "grantPerm to another user of a permission one lacks", global: []string{authz.PermChangeUser},
		field: "grantPerm", perm: authz.PermDeleteUser, msg: "you cannot grant auth.delete_user",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantPerm(perm: "auth.delete_user", user: %q) }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasPerm(t, e.target.ID, authz.PermDeleteUser)
		},
	},
	{
		name: "grantPerm to a group of a permission one lacks", global: []string{authz.PermChangeGroup},
		field: "grantPerm", perm: authz.PermDeleteUser, msg: "you cannot grant auth.delete_user",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantPerm(perm: "auth.delete_user", group: %q) }`, gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return len(groupGrants(t, h, e.group.ID).Global) > 0
		},
	},
	{
		name:   "grantPerm globally of a permission held only in a project",
		global: []string{authz.PermChangeUser}, inP: []string{publish},
		field: "grantPerm", perm: publish, msg: "you cannot grant projects.publish_page",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantPerm(perm: %q, user: %q) }`, publish, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.hasPerm(t, e.target.ID, publish) },
	},
	{
		name:   "grantPerm of a permission held through a group",
		global: []string{authz.PermChangeUser}, groupGlobal: []string{authz.PermDeleteUser}, viewerInGroup: true, allowed: true,
		field: "grantPerm",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantPerm(perm: "auth.delete_user", user: %q) }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasPerm(t, e.target.ID, authz.PermDeleteUser)
		},
	},

	// Granting what one lacks, in a project.
	{
		name:  "grantProjectPerm to oneself of a permission one lacks there",
		inP:   []string{authz.PermManageMembers, authz.PermAddPage},
		field: "grantProjectPerm", perm: authz.PermViewPage, project: "P", msg: "you cannot grant projects.view_page",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { users { username } } }`,
				gid(e.p.ID), e.viewer.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasProjectPerm(t, e.viewer.ID, authz.PermViewPage, e.p.ID)
		},
	},
	{
		name:  "grantProjectPerm to a group of a permission one lacks there",
		inP:   []string{authz.PermManageMembers},
		field: "grantProjectPerm", perm: authz.PermViewPage, project: "P", msg: "you cannot grant projects.view_page",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, group: %q) { users { username } } }`,
				gid(e.p.ID), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return len(groupGrants(t, h, e.group.ID).Projects) > 0
		},
	},
	{
		name: "grantProjectPerm in Q of a permission held only in P",
		inP:  []string{authz.PermManageMembers, authz.PermViewPage}, inQ: []string{authz.PermManageMembers},
		field: "grantProjectPerm", perm: authz.PermViewPage, project: "Q", msg: "you cannot grant projects.view_page",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { users { username } } }`,
				gid(e.q.ID), e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasProjectPerm(t, e.target.ID, authz.PermViewPage, e.q.ID)
		},
	},
	{
		name: "grantProjectPerm in a project where one does not manage members",
		inP:  []string{authz.PermManageMembers, authz.PermViewPage}, inQ: []string{authz.PermViewPage},
		field: "grantProjectPerm", perm: authz.PermManageMembers, project: "Q",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { users { username } } }`,
				gid(e.q.ID), e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasProjectPerm(t, e.target.ID, authz.PermViewPage, e.q.ID)
		},
	},
	{
		name:   "grantProjectPerm of a permission held globally",
		global: []string{authz.PermViewPage}, inP: []string{authz.PermManageMembers}, allowed: true,
		field: "grantProjectPerm",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { permission { key } } }`,
				gid(e.p.ID), e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.hasProjectPerm(t, e.target.ID, authz.PermViewPage, e.p.ID)
		},
	},

	// Gaining through a group.
	{
		name:   "addUserToGroup oneself to a group holding a global permission one lacks",
		global: []string{authz.PermChangeGroup}, groupGlobal: []string{authz.PermDeleteUser},
		field: "addUserToGroup", perm: authz.PermDeleteUser, msg: "holds auth.delete_user globally, which you do not hold",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { name } }`, e.viewer.gid(), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.isMember(t, e.viewer.ID, e.group.ID) },
	},
	{
		name:   "addUserToGroup another user to a group holding a global permission one lacks",
		global: []string{authz.PermChangeGroup}, groupGlobal: []string{authz.PermDeleteUser},
		field: "addUserToGroup", perm: authz.PermDeleteUser, msg: "auth.delete_user",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { name } }`, e.target.gid(), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.isMember(t, e.target.ID, e.group.ID) },
	},
	{
		name:   "addUserToGroup oneself to a group holding in P a permission one lacks",
		global: []string{authz.PermChangeGroup}, groupInP: []string{authz.PermViewPage},
		field: "addUserToGroup", perm: authz.PermViewPage, project: "P", msg: "projects.view_page in project",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { name } }`, e.viewer.gid(), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.isMember(t, e.viewer.ID, e.group.ID) },
	},
	{
		name:   "addUserToGroup to a group holding in P a permission one holds only in Q",
		global: []string{authz.PermChangeGroup}, inQ: []string{authz.PermViewPage}, groupInP: []string{authz.PermViewPage},
		field: "addUserToGroup", perm: authz.PermViewPage, project: "P",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { name } }`, e.target.gid(), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.isMember(t, e.target.ID, e.group.ID) },
	},
	{
		name:   "addUserToGroup to a group holding globally a permission one holds only in P",
		global: []string{authz.PermChangeGroup}, inP: []string{authz.PermViewPage}, groupGlobal: []string{authz.PermViewPage},
		field: "addUserToGroup", perm: authz.PermViewPage, msg: "globally",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { name } }`, e.target.gid(), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.isMember(t, e.target.ID, e.group.ID) },
	},
	{
		name:   "addUserToGroup to a group holding only what one holds, where one holds it",
		global: []string{authz.PermChangeGroup, authz.PermDeleteUser}, inP: []string{authz.PermViewPage},
		groupGlobal: []string{authz.PermDeleteUser}, groupInP: []string{authz.PermViewPage}, allowed: true,
		field: "addUserToGroup",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { name } }`, e.target.gid(), gid(e.group.ID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return h.isMember(t, e.target.ID, e.group.ID) },
	},

	// Superusers are a superuser's business.
	{
		name: "updateUser makes oneself a superuser", global: []string{authz.PermChangeUser},
		field: "updateUser", msg: "only a superuser may change isSuperuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isSuperuser: true}) { isSuperuser } }`, e.viewer.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			u, _ := h.user(t, e.viewer.ID)
			return u.IsSuperuser
		},
	},
	{
		name: "updateUser makes another user a superuser", global: []string{authz.PermChangeUser},
		field: "updateUser", msg: "only a superuser may change isSuperuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: true, isSuperuser: true}) { isSuperuser } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			u, _ := h.user(t, e.target.ID)
			return u.IsSuperuser
		},
	},
	{
		name: "createUser creates a superuser", global: []string{authz.PermAddUser},
		field: "createUser", msg: "only a superuser may create a superuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createUser(input: {username: %q, isSuperuser: true}) { isSuperuser } }`, e.name)
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			_, err := h.store.UserByUsername(h.ctx, e.name)
			return err == nil
		},
	},
	{
		name: "updateUser deactivates a superuser", global: []string{authz.PermChangeUser}, targetSuper: true,
		field: "updateUser", msg: "only a superuser may change a superuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: false}) { isActive } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { u, _ := h.user(t, e.target.ID); return !u.IsActive },
	},
	{
		name: "updateUser reactivates an inactive superuser", global: []string{authz.PermChangeUser},
		targetSuper: true, targetActive: &falseValue,
		field: "updateUser", msg: "only a superuser may change a superuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: true}) { isActive } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { u, _ := h.user(t, e.target.ID); return u.IsActive },
	},
	{
		name: "deleteUser deletes a superuser", global: []string{authz.PermDeleteUser, authz.PermChangeUser}, targetSuper: true,
		field: "deleteUser", msg: "only a superuser may delete a superuser",
		doc:  func(e *escFixture) string { return fmt.Sprintf(`mutation { deleteUser(id: %q) }`, e.target.gid()) },
		done: func(t *testing.T, h *harness, e *escFixture) bool { _, found := h.user(t, e.target.ID); return !found },
	},
	{
		name: "createApiToken for a user who holds, through a group, what one lacks", global: []string{authz.PermChangeUser},
		groupInP: []string{authz.PermDeleteProject}, targetInGroup: true,
		field: "createApiToken", perm: authz.PermDeleteProject, project: "P",
		msg: "holds projects.delete_project in project",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { name } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return len(h.tokens(t, e.target.ID)) > 1 },
	},
	{
		name: "createApiToken for a user who holds globally what one lacks", global: []string{authz.PermChangeUser},
		groupGlobal: []string{authz.PermDeleteUser}, targetInGroup: true,
		field: "createApiToken", perm: authz.PermDeleteUser,
		msg: "holds auth.delete_user globally",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { name } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return len(h.tokens(t, e.target.ID)) > 1 },
	},
	{
		name: "createApiToken for a user who holds nothing one lacks", global: []string{authz.PermChangeUser},
		inP: []string{authz.PermDeleteProject}, groupInP: []string{authz.PermDeleteProject}, targetInGroup: true,
		field: "createApiToken", allowed: true,
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "fine") { name } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return len(h.tokens(t, e.target.ID)) > 1 },
	},
	{
		name: "createApiToken for a superuser", global: []string{authz.PermChangeUser}, targetSuper: true,
		field: "createApiToken", msg: "only a superuser may create a token for a superuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { name } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return len(h.tokens(t, e.target.ID)) > 1 },
	},

	// An inactive user is judged by what it holds once reactivated: its
	// stored isSuperuser and its stored grants (finding 1).
	{
		name: "createApiToken for an inactive superuser", global: []string{authz.PermChangeUser},
		targetSuper: true, targetActive: &falseValue,
		field: "createApiToken", msg: "only a superuser may create a token for a superuser",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { name } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return len(h.tokens(t, e.target.ID)) > 1 },
	},
	{
		name: "createApiToken for an inactive user who holds, through a group, what one lacks", global: []string{authz.PermChangeUser},
		groupGlobal: []string{authz.PermDeleteUser}, targetInGroup: true, targetActive: &falseValue,
		field: "createApiToken", perm: authz.PermDeleteUser, msg: "holds auth.delete_user globally",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { name } }`, e.target.gid())
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool { return len(h.tokens(t, e.target.ID)) > 1 },
	},
	{
		name: "deleteUser deletes an inactive superuser", global: []string{authz.PermDeleteUser},
		targetSuper: true, targetActive: &falseValue,
		field: "deleteUser", msg: "only a superuser may delete a superuser",
		doc:  func(e *escFixture) string { return fmt.Sprintf(`mutation { deleteUser(id: %q) }`, e.target.gid()) },
		done: func(t *testing.T, h *harness, e *escFixture) bool { _, found := h.user(t, e.target.ID); return !found },
	},
	{
		name: "revokeApiToken of an inactive superuser's token", global: []string{authz.PermChangeUser},
		targetSuper: true, targetActive: &falseValue,
		field: "revokeApiToken", msg: "only a superuser may revoke a superuser's tokens",
		doc: func(e *escFixture) string {
			return fmt.Sprintf(`mutation { revokeApiToken(id: %q) }`, gid(e.target.TokenID))
		},
		done: func(t *testing.T, h *harness, e *escFixture) bool {
			return h.tokens(t, e.target.ID)[0].RevokedAt != nil
		},
	},
}

func groupGrants(t *testing.T, h *harness, group int64) authz.HeldGrants {
	t.Helper()
	gg, err := h.store.HolderGrants(h.ctx, authz.Holder{Group: group})
	if err != nil {
		t.Fatalf("HolderGrants(group %d) = %v", group, err)
	}
	return gg
}

func (h *harness) newEscFixture(t *testing.T, c escalationCase) *escFixture {
	t.Helper()
	e := &escFixture{p: h.mustProject(t, "p"), q: h.mustProject(t, "q"), name: dbtest.Name("new")}
	active := c.targetActive == nil || *c.targetActive
	e.target = h.mustUserFlags(t, "target", active, c.targetSuper)
	e.viewer = h.mustUser(t, "viewer", c.global...)
	h.grantProject(t, authz.Holder{User: e.viewer.ID}, e.p.ID, c.inP...)
	h.grantProject(t, authz.Holder{User: e.viewer.ID}, e.q.ID, c.inQ...)
	e.group = h.mustGroup(t, "group", c.groupGlobal...)
	h.grantProject(t, authz.Holder{Group: e.group.ID}, e.p.ID, c.groupInP...)
	if c.viewerInGroup {
		h.join(t, e.viewer.ID, e.group.ID)
	}
	if c.targetInGroup {
		h.join(t, e.target.ID, e.group.ID)
	}
	return e
}

// TestNoEscalation holds docs/api.md's "nobody but a superuser can grant a
// permission they do not hold themselves": each attempt is refused with
// FORBIDDEN and changes nothing, and the same document succeeds for a
// superuser. The cases marked allowed show the rules do not over-refuse.
func TestNoEscalation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		for _, c := range escalationCases {
			t.Run(c.name, func(t *testing.T) {
				e := h.newEscFixture(t, c)
				q := c.doc(e)
				res := h.do(t, e.viewer.Token, q)
				if c.allowed {
					if len(res.Errors) != 0 || !c.done(t, h, e) {
						t.Errorf("%s = %v, want it allowed and done", q, res)
					}
					return
				}
				w := errWant{code: "FORBIDDEN", path: c.field, perm: c.perm}
				if c.msg != "" {
					w.msg = []string{c.msg}
				}
				switch c.project {
				case "P":
					w.project = gid(e.p.ID)
				case "Q":
					w.project = gid(e.q.ID)
				}
				wantError(t, q, res, w)
				if c.done(t, h, e) {
					t.Fatalf("%s was refused but took effect", q)
				}
				if res := h.do(t, h.root.Token, q); len(res.Errors) != 0 || !c.done(t, h, e) {
					t.Errorf("%s as a superuser = %v, want it allowed and done", q, res)
				}
			})
		}
		t.Run("one request: an allowed grant, then a grant of what one lacks", func(t *testing.T) {
			e := h.newEscFixture(t, escalationCase{inP: []string{authz.PermManageMembers, authz.PermAddPage}})
			q := fmt.Sprintf(`mutation {
				a: grantProjectPerm(perm: "projects.add_page", project: %[1]q, user: %[2]q) { permission { key } }
				b: grantProjectPerm(perm: "projects.view_page", project: %[1]q, user: %[3]q) { permission { key } }
			}`, gid(e.p.ID), e.target.gid(), e.viewer.gid())
			res := h.do(t, e.viewer.Token, q)
			wantError(t, q, res, errWant{code: "FORBIDDEN", path: "b", perm: authz.PermViewPage, project: gid(e.p.ID),
				msg: []string{"you cannot grant projects.view_page"}})
			if !h.hasProjectPerm(t, e.target.ID, authz.PermAddPage, e.p.ID) {
				t.Errorf("%s: field a did not grant projects.add_page", q)
			}
			if h.hasProjectPerm(t, e.viewer.ID, authz.PermViewPage, e.p.ID) {
				t.Errorf("%s: field b granted the viewer projects.view_page", q)
			}
		})
	})
}

// TestTokenForInactiveSuperuserRefused replays finding 1 of the security
// review: a holder of auth.change_user asks for a token of an inactive
// superuser, whose effective grants are empty. The token must not be
// minted (only a superuser may act as a superuser, active or not), so
// that reactivating the account later gives the holder nothing; and a
// superuser may still mint it.
func TestTokenForInactiveSuperuserRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		admin := h.mustUser(t, "admin", authz.PermChangeUser)
		dormant := h.mustUserFlags(t, "dormant", false, true)
		q := fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { token } }`, dormant.gid())
		wantError(t, q, h.do(t, admin.Token, q), errWant{code: "FORBIDDEN", path: "createApiToken",
			msg: []string{"only a superuser may create a token for a superuser"}})
		if n := len(h.tokens(t, dormant.ID)); n != 1 {
			t.Fatalf("%s was refused, but the superuser has %d tokens, want 1", q, n)
		}
		// The account comes back: the holder of auth.change_user still
		// cannot act as it, nor grant itself what it lacks.
		react := fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: true}) { isActive } }`, dormant.gid())
		wantData(t, react, h.do(t, h.root.Token, react), `{"updateUser": {"isActive": true}}`)
		wantError(t, q, h.do(t, admin.Token, q), errWant{code: "FORBIDDEN", path: "createApiToken",
			msg: []string{"only a superuser may create a token for a superuser"}})
		if h.hasPerm(t, admin.ID, authz.PermDeleteUser) {
			t.Errorf("the holder of auth.change_user gained %s", authz.PermDeleteUser)
		}
		deactivate := fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: false}) { isActive } }`, dormant.gid())
		wantData(t, deactivate, h.do(t, h.root.Token, deactivate), `{"updateUser": {"isActive": false}}`)
		if res := h.do(t, h.root.Token, q); len(res.Errors) != 0 || len(h.tokens(t, dormant.ID)) != 2 {
			t.Errorf("%s as a superuser = %v, want a token minted", q, res)
		}
	})
}

// TestTokenForInactiveUserJudgesStoredGrants: an inactive user holds
// nothing today, but its grants are stored and come back when it is
// reactivated, with every token minted for it meanwhile; so minting one
// needs the grants it holds (globally, in a project, directly or through
// a group), not the empty set it holds while inactive (finding 1).
func TestTokenForInactiveUserJudgesStoredGrants(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		p := h.mustProject(t, "p")
		admin := h.mustUser(t, "admin", authz.PermChangeUser)
		h.grantProject(t, authz.Holder{User: admin.ID}, p.ID, authz.PermViewPage)
		direct := h.mustUserFlags(t, "direct", false, false, authz.PermDeleteUser)
		inGroup := h.mustUserFlags(t, "in_group", false, false)
		g := h.mustGroup(t, "g")
		h.grantProject(t, authz.Holder{Group: g.ID}, p.ID, authz.PermDeleteProject)
		h.join(t, inGroup.ID, g.ID)
		covered := h.mustUserFlags(t, "covered", false, false)
		h.grantProject(t, authz.Holder{User: covered.ID}, p.ID, authz.PermViewPage)

		for _, c := range []struct {
			name          string
			target        actor
			perm, project string
		}{
			{"a global grant", direct, authz.PermDeleteUser, ""},
			{"a project grant through a group", inGroup, authz.PermDeleteProject, gid(p.ID)},
		} {
			q := fmt.Sprintf(`mutation { createApiToken(user: %q, name: "stolen") { token } }`, c.target.gid())
			wantError(t, c.name+": "+q, h.do(t, admin.Token, q), errWant{code: "FORBIDDEN", path: "createApiToken",
				perm: c.perm, project: c.project, msg: []string{c.perm + " ", "which you do not hold"}})
			if n := len(h.tokens(t, c.target.ID)); n != 1 {
				t.Errorf("%s: %s was refused, but the user has %d tokens, want 1", c.name, q, n)
			}
		}
		q := fmt.Sprintf(`mutation { createApiToken(user: %q, name: "fine") { name } }`, covered.gid())
		wantData(t, q, h.do(t, admin.Token, q), `{"createApiToken": {"name": "fine"}}`)
	})
}

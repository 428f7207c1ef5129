package graph_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// raceTries is how many times each pair of mutations races: on
// PostgreSQL the review saw the write lose the race in more than half of
// 40 tries.
const raceTries = 40

// TestGrantRacingDeleteProject: a write that references a project, user
// or group, sent at the same moment as the deletion of that parent,
// either succeeds (it came first) or answers NOT_FOUND naming the parent
// (it came second), never INTERNAL: the foreign-key violation of a parent
// deleted between the write's existence check and its insert is the
// parent's NOT_FOUND.
func TestGrantRacingDeleteProject(t *testing.T) {
	type race struct {
		write, delete string
		kind          string // the parent the write names
	}
	cases := []struct {
		name string
		make func(t *testing.T, h *harness, u actor) race
	}{
		{"grantProjectPerm racing deleteProject", func(t *testing.T, h *harness, u actor) race {
			p := h.mustProject(t, "p")
			return race{fmt.Sprintf(`mutation { grantProjectPerm(perm: %q, project: %q, user: %q) { permission { key } } }`, authz.PermViewPage, gid(p.ID), u.gid()),
				fmt.Sprintf(`mutation { deleteProject(id: %q) }`, gid(p.ID)), "project"}
		}},
		{"createPage racing deleteProject", func(t *testing.T, h *harness, u actor) race {
			p := h.mustProject(t, "p")
			return race{fmt.Sprintf(`mutation { createPage(input: {project: %q, title: "t"}) { id } }`, gid(p.ID)),
				fmt.Sprintf(`mutation { deleteProject(id: %q) }`, gid(p.ID)), "project"}
		}},
		{"addUserToGroup racing deleteGroup", func(t *testing.T, h *harness, u actor) race {
			g := h.mustGroup(t, "g")
			return race{fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, u.gid(), gid(g.ID)),
				fmt.Sprintf(`mutation { deleteGroup(id: %q) }`, gid(g.ID)), "group"}
		}},
		{"grantPerm racing deleteUser", func(t *testing.T, h *harness, u actor) race {
			v := h.mustUser(t, "v")
			return race{fmt.Sprintf(`mutation { grantPerm(perm: %q, user: %q) }`, authz.PermViewPage, v.gid()),
				fmt.Sprintf(`mutation { deleteUser(id: %q) }`, v.gid()), "user"}
		}},
		{"createApiToken racing deleteUser", func(t *testing.T, h *harness, u actor) race {
			v := h.mustUser(t, "v")
			return race{fmt.Sprintf(`mutation { createApiToken(user: %q, name: "t") { id } }`, v.gid()),
				fmt.Sprintf(`mutation { deleteUser(id: %q) }`, v.gid()), "user"}
		}},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		u := h.mustUser(t, "u")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				lost := 0
				for range raceTries {
					r := c.make(t, h, u)
					var wg sync.WaitGroup
					var write, del response
					wg.Add(2)
					go func() { defer wg.Done(); write = h.do(t, h.root.Token, r.write) }()
					go func() { defer wg.Done(); del = h.do(t, h.root.Token, r.delete) }()
					wg.Wait()
					if len(del.Errors) != 0 {
						t.Errorf("%s = %v, want no errors", r.delete, del)
					}
					switch {
					case len(write.Errors) == 0:
					case len(write.Errors) == 1 && write.Errors[0].code() == "NOT_FOUND":
						lost++
						wantError(t, r.write, write, errWant{code: "NOT_FOUND", path: write.Errors[0].pathString(), msg: []string{r.kind + " ", "not found"}})
					default:
						t.Errorf("%s racing %s = %v, want success or NOT_FOUND", r.write, r.delete, write)
					}
				}
				t.Logf("%s: the write came second %d times of %d", db.Dialect, lost, raceTries)
			})
		}
	})
}

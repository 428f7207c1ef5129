package graph_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// onDecision is an authz.Observer that calls f with every decision.
type onDecision func(d authz.Decision)

func (f onDecision) ObserveDecision(d authz.Decision, err error) { f(d) }

// TestRevokedTokenStopsMidRequest holds finding 6 of the security review:
// a token revoked while its request runs stops at once, as a deactivated
// user does. The mutation fields that follow the revocation in the same
// request answer UNAUTHENTICATED and change nothing, whether the request
// revoked its own token or another request did meanwhile, with and
// without the shared cache; fields before it keep their effect. A
// deactivation in another request, for comparison, stops the following
// fields too (they are denied as inactive).
func TestRevokedTokenStopsMidRequest(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared cache %v", cached), func(t *testing.T) {
			dbtest.Run(t, func(t *testing.T, db *models.DB) {
				store := models.NewStore(db)
				// Another request's write, made while a check of the request
				// under test runs: the first time that request checks
				// projects.add_project, the observer sends it.
				var (
					h         *harness
					meanwhile atomic.Pointer[func()]
				)
				opts := []authz.Option{authz.WithObserver(onDecision(func(d authz.Decision) {
					if d.Perm == authz.PermAddProject {
						if f := meanwhile.Swap(nil); f != nil {
							(*f)()
						}
					}
				}))}
				if cached {
					cache := authz.NewSharedCache(1000, nil)
					t.Cleanup(cache.Start(context.Background(), store, time.Hour))
					waitServing(t, cache)
					opts = append(opts, authz.WithSharedCache(cache))
				}
				h = serveHarness(t, db, store, authz.NewEngine(store, opts...))

				t.Run("the request revokes its own token", func(t *testing.T) {
					v := h.mustUser(t, "v", authz.PermAddGroup)
					spare := h.mustToken(t, v.ID)
					p := h.mustProject(t, "p")
					h.grantProject(t, authz.Holder{User: v.ID}, p.ID, authz.PermAddPage)
					q := fmt.Sprintf(`mutation {
						a: createGroup(name: %[1]q) { name }
						b: revokeApiToken(id: %[2]q)
						c: createGroup(name: %[3]q) { name }
						d: createApiToken(user: %[4]q, name: "fresh") { token }
						e: revokeApiToken(id: %[5]q)
						f: createPage(input: {project: %[6]q, title: "late"}) { id }
					}`, v.Username+"_a", gid(v.TokenID), v.Username+"_c", v.gid(), gid(spare), gid(p.ID))
					res := h.do(t, v.Token, q)
					wantUnauthenticated(t, q, res, "c", "d", "e", "f")
					if !h.groupNamed(t, v.Username+"_a") {
						t.Errorf("%s: field a, before the revocation, took no effect", q)
					}
					if h.groupNamed(t, v.Username+"_c") {
						t.Errorf("%s: field c, after the revocation, created its group", q)
					}
					tokens := h.tokens(t, v.ID)
					if len(tokens) != 2 || tokens[0].RevokedAt != nil || tokens[1].RevokedAt == nil {
						t.Errorf("%s: tokens = %+v, want the two, only the request's revoked", q, tokens)
					}
					if pages, err := h.store.ProjectPages(h.ctx, p.ID, 0, 10); err != nil || len(pages) != 0 {
						t.Errorf("%s: project pages = %v, %v; want none", q, pages, err)
					}
				})

				t.Run("another request revokes the token", func(t *testing.T) {
					v := h.mustUser(t, "v", authz.PermAddGroup, authz.PermAddProject)
					revoke := fmt.Sprintf(`mutation { revokeApiToken(id: %q) }`, gid(v.TokenID))
					f := func() { wantData(t, revoke, h.do(t, h.root.Token, revoke), `{"revokeApiToken": true}`) }
					meanwhile.Store(&f)
					q := fmt.Sprintf(`mutation {
						a: createGroup(name: %[1]q) { name }
						b: createProject(name: %[2]q) { name }
						c: createGroup(name: %[3]q) { name }
						d: createApiToken(user: %[4]q, name: "fresh") { token }
					}`, v.Username+"_a", v.Username+"_b", v.Username+"_c", v.gid())
					res := h.do(t, v.Token, q)
					if meanwhile.Load() != nil {
						t.Fatalf("%s = %v: the revocation was not sent", q, res)
					}
					wantUnauthenticated(t, q, res, "c", "d")
					if !h.groupNamed(t, v.Username+"_a") || h.groupNamed(t, v.Username+"_c") {
						t.Errorf("%s: group a exists %v, group c exists %v; want a only", q,
							h.groupNamed(t, v.Username+"_a"), h.groupNamed(t, v.Username+"_c"))
					}
					if n := len(h.tokens(t, v.ID)); n != 1 {
						t.Errorf("%s: the user has %d tokens, want 1", q, n)
					}
				})

				t.Run("another request deactivates the user", func(t *testing.T) {
					v := h.mustUser(t, "v", authz.PermAddGroup, authz.PermAddProject)
					deactivate := fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: false}) { isActive } }`, v.gid())
					f := func() {
						wantData(t, deactivate, h.do(t, h.root.Token, deactivate), `{"updateUser": {"isActive": false}}`)
					}
					meanwhile.Store(&f)
					q := fmt.Sprintf(`mutation {
						b: createProject(name: %[1]q) { name }
						c: createGroup(name: %[2]q) { name }
						d: createApiToken(user: %[3]q, name: "fresh") { token }
					}`, v.Username+"_b", v.Username+"_c", v.gid())
					res := h.do(t, v.Token, q)
					if len(res.Errors) != 2 || res.Errors[0].code() != "FORBIDDEN" || res.Errors[0].pathString() != "c" ||
						res.Errors[1].code() != "UNAUTHENTICATED" || res.Errors[1].pathString() != "d" {
						t.Errorf("%s = %v, want c FORBIDDEN (inactive) and d UNAUTHENTICATED", q, res)
					}
					if h.groupNamed(t, v.Username+"_c") || len(h.tokens(t, v.ID)) != 1 {
						t.Errorf("%s: a field after the deactivation took effect", q)
					}
				})
			})
		})
	}
}

// wantUnauthenticated asserts that exactly the fields of paths failed, in
// order, each with UNAUTHENTICATED and a message naming the revoked token.
func wantUnauthenticated(t *testing.T, query string, got response, paths ...string) {
	t.Helper()
	if len(got.Errors) != len(paths) {
		t.Errorf("%s = %v, want %d UNAUTHENTICATED errors, at %v", query, got, len(paths), paths)
		return
	}
	for i, e := range got.Errors {
		if e.code() != "UNAUTHENTICATED" || e.pathString() != paths[i] {
			t.Errorf("%s: error %d = %+v, want UNAUTHENTICATED at %s", query, i, e, paths[i])
		}
	}
}

// mustToken makes one more token for user and returns its id.
func (h *harness) mustToken(t *testing.T, user int64) int64 {
	t.Helper()
	tok, _, err := h.store.CreateToken(h.ctx, user, "spare", nil)
	if err != nil {
		t.Fatalf("CreateToken(%d) = %v", user, err)
	}
	return tok.ID
}

// TestTokenConfirmationStatements: confirming the viewer's token adds no
// statement. A mutation's check after a write of the same request reads
// the grants and the token in one statement, and a check the request
// cache answers (createApiToken for oneself, right after the token's
// look-up) reads nothing: three createGroup cost the token's look-up and
// one statement for each later check; createApiToken for oneself, the
// look-up alone.
func TestTokenConfirmationStatements(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		v := h.mustUser(t, "v", authz.PermAddGroup)
		for _, c := range []struct {
			query string
			want  int64
		}{
			{fmt.Sprintf(`mutation { a: createGroup(name: "%[1]s_a") { name } b: createGroup(name: "%[1]s_b") { name }
				c: createGroup(name: "%[1]s_c") { name } }`, v.Username), 3},
			{fmt.Sprintf(`mutation { createApiToken(user: %q, name: "x") { name } }`, v.gid()), 1},
		} {
			counter := &models.StatementCounter{}
			res := h.doWith(t, h.counted(counter, v.Token), c.query)
			if len(res.Errors) != 0 {
				t.Fatalf("%s = %v, want no errors", c.query, res)
			}
			if n := counter.Permissions(); n != c.want {
				t.Errorf("%s ran %d statements that read grants, want %d", c.query, n, c.want)
			}
		}
	})
}

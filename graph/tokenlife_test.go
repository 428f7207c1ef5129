package graph_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestCreateAPITokenExpiry: createApiToken takes an expiry in the future,
// shows it, and apiTokens lists it; an expiry now or past is refused as
// bad input.
func TestCreateAPITokenExpiry(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		v := h.mustUser(t, "v")
		past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		q := `mutation($u: ID!, $at: Time) { createApiToken(user: $u, name: "t", expiresAt: $at) { name expiresAt } }`
		wantError(t, q, h.do(t, v.Token, q, "u", v.gid(), "at", past),
			errWant{code: "BAD_USER_INPUT", path: "createApiToken", msg: []string{"expiresAt", "not in the future"}})
		at := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		wantData(t, q, h.do(t, v.Token, q, "u", v.gid(), "at", at), fmt.Sprintf(`{"createApiToken": {"name": "t", "expiresAt": %q}}`, at))
		list := `{ apiTokens { name expiresAt lastUsedAt } }`
		wantData(t, list, h.do(t, v.Token, list), fmt.Sprintf(`{"apiTokens": [{"name": "t", "expiresAt": %q, "lastUsedAt": null},
			{"name": "fixture", "expiresAt": null, "lastUsedAt": null}]}`, at))
	})
}

// TestExpiredAPIToken: an expired token answers 401 with reason
// token_expired, with and without the shared cache, also when the cache
// authenticated it before it expired; and a token that expires while its
// request runs refuses the request's later checks, cached or not.
func TestExpiredAPIToken(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared cache %v", cached), func(t *testing.T) {
			dbtest.Run(t, func(t *testing.T, db *models.DB) {
				store := models.NewStore(db)
				var meanwhile atomic.Pointer[func()]
				opts := []authz.Option{authz.WithObserver(onDecision(func(d authz.Decision) {
					if f := meanwhile.Swap(nil); f != nil {
						(*f)()
					}
				}))}
				if cached {
					cache := authz.NewSharedCache(1000, nil)
					t.Cleanup(cache.Start(context.Background(), store, time.Hour))
					waitServing(t, cache)
					opts = append(opts, authz.WithSharedCache(cache))
				}
				h := serveHarness(t, db, store, authz.NewEngine(store, opts...))
				v := h.mustUser(t, "v", authz.PermAddGroup)

				past := time.Now().Add(-time.Second)
				_, expired, err := store.CreateToken(h.ctx, v.ID, "expired", &past)
				if err != nil {
					t.Fatal(err)
				}
				wantRefused(t, "expired token", h.do(t, expired, `{ viewer { id } }`), authz.RefusedTokenExpired)

				// Authenticated (and cached) while valid, refused once expired.
				soon := time.Now().Add(time.Second)
				_, secret, err := store.CreateToken(h.ctx, v.ID, "soon", &soon)
				if err != nil {
					t.Fatal(err)
				}
				wantData(t, "valid", h.do(t, secret, `{ hasPerm(perm: "auth.add_group") }`), `{"hasPerm": true}`)
				wantData(t, "valid again", h.do(t, secret, `{ hasPerm(perm: "auth.add_group") }`), `{"hasPerm": true}`)
				time.Sleep(time.Until(soon) + 10*time.Millisecond)
				wantRefused(t, "expired since", h.do(t, secret, `{ hasPerm(perm: "auth.add_group") }`), authz.RefusedTokenExpired)

				// Expires between the request's first check and its second.
				soon = time.Now().Add(time.Second)
				_, secret, err = store.CreateToken(h.ctx, v.ID, "mid", &soon)
				if err != nil {
					t.Fatal(err)
				}
				wait := func() { time.Sleep(time.Until(soon) + 10*time.Millisecond) }
				meanwhile.Store(&wait)
				// Mutations run one after the other.
				q := fmt.Sprintf(`mutation { a: createGroup(name: "%[1]s_a") { name } b: createGroup(name: "%[1]s_b") { name } }`, v.Username)
				got := h.do(t, secret, q)
				// createGroup is non-null: b's refusal nulls data.
				if len(got.Errors) != 1 || got.Errors[0].pathString() != "b" || got.Errors[0].code() != "UNAUTHENTICATED" ||
					got.Errors[0].Extensions["reason"] != authz.RefusedTokenExpired {
					t.Errorf("%s with the token expiring after the first check = %v, want b refused with UNAUTHENTICATED token_expired", q, got)
				}
				if !h.groupNamed(t, v.Username+"_a") || h.groupNamed(t, v.Username+"_b") {
					t.Errorf("%s: group a created %v, b %v; want a only", q, h.groupNamed(t, v.Username+"_a"), h.groupNamed(t, v.Username+"_b"))
				}
			})
		})
	}
}

// TestAPITokenLastUsed: a request writes nothing of its token's use; a
// flush writes every use since the last one in one statement that moves
// no revision, and apiTokens shows it.
func TestAPITokenLastUsed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		store := models.NewStore(db)
		engine := authz.NewEngine(store)
		usage := authn.NewTokenUsage(store, nil)
		h := serveHarness(t, db, store, engine, graph.WithAuthenticator(authn.New(engine, store, authn.WithTokenUsage(usage))))
		v := h.mustUser(t, "v")
		w := h.mustUser(t, "w")
		list := `{ apiTokens { lastUsedAt } }`
		wantData(t, list, h.do(t, v.Token, list), `{"apiTokens": [{"lastUsedAt": null}]}`)
		h.do(t, w.Token, `{ viewer { id } }`)
		if ts := h.tokens(t, v.ID); len(ts) != 1 || ts[0].LastUsedAt != nil {
			t.Errorf("tokens of v after a request = %+v, want lastUsedAt still null: a request writes nothing", ts)
		}
		rev, err := store.Revision(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().Add(-time.Minute)
		c := &models.StatementCounter{}
		if err := usage.Flush(c.WithCounting(h.ctx)); err != nil {
			t.Fatalf("Flush() = %v", err)
		}
		if c.Count() != 1 {
			t.Errorf("Flush() of two tokens' uses ran %d statements, want 1", c.Count())
		}
		if again, _ := store.Revision(h.ctx); again != rev {
			t.Errorf("Flush() moved the revision %d -> %d, want it unchanged: it invalidates no cache", rev, again)
		}
		for _, a := range []actor{v, w} {
			ts := h.tokens(t, a.ID)
			if len(ts) != 1 || ts[0].LastUsedAt == nil || ts[0].LastUsedAt.Before(before) {
				t.Errorf("tokens of %s after a flush = %+v, want lastUsedAt set to about now", a.Username, ts)
			}
		}
		c.Reset()
		if err := usage.Flush(c.WithCounting(h.ctx)); err != nil || c.Count() != 0 {
			t.Errorf("Flush() with nothing new = %v and %d statements, want nil and 0", err, c.Count())
		}
	})
}

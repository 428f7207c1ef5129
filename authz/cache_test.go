package authz_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// cacheWorld is the data of the request-cache tests: alice holds view_page
// in p7 directly; bob holds nothing until a step grants it; bob is a member
// of editors, which holds change_page in p8.
type cacheWorld struct {
	f          *fixture
	alice, bob int64
	editors    int64
	p7, p8     int64
}

func newCacheWorld(t *testing.T, db *models.DB) *cacheWorld {
	t.Helper()
	for _, table := range []string{"users", "groups", "projects"} {
		dbtest.MustExec(t, db, "DELETE FROM "+table)
	}
	f := newFixture(t, db)
	w := &cacheWorld{f: f}
	w.alice = f.user("alice", true, false)
	w.bob = f.user("bob", true, false)
	w.editors = f.group("editors", w.bob)
	w.p7 = f.project("seven")
	w.p8 = f.project("eight")
	f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
	f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{Group: w.editors}, "projects.change_page", w.p8))
	return w
}

// cacheStep is one step of a request: a write, whose statements are not
// counted, or a check, which must cost statements statements and answer
// allowed/reason (err, when set).
type cacheStep struct {
	name       string
	write      func(ctx context.Context, w *cacheWorld) error
	check      func(ctx context.Context, w *cacheWorld) (authz.Decision, error)
	statements int64
	allowed    bool
	reason     authz.Reason
	err        error
}

func hasProjectPerm(user func(w *cacheWorld) int64, perm string, project func(w *cacheWorld) int64) func(context.Context, *cacheWorld) (authz.Decision, error) {
	return func(ctx context.Context, w *cacheWorld) (authz.Decision, error) {
		return w.f.e.HasProjectPerm(ctx, user(w), perm, project(w))
	}
}

func alice(w *cacheWorld) int64 { return w.alice }
func bob(w *cacheWorld) int64   { return w.bob }
func p7(w *cacheWorld) int64    { return w.p7 }
func p8(w *cacheWorld) int64    { return w.p8 }

// TestRequestCache counts the SQL statements of each check in a request,
// with models.StatementCounter: a request cache answers a (user, project)
// it has loaded without a statement; every write the engine makes with the
// request's context empties it, so the next check sees the write; and
// without a request cache every check loads again.
func TestRequestCache(t *testing.T) {
	aliceViewsP7 := hasProjectPerm(alice, viewPage, p7)
	bobViewsP7 := hasProjectPerm(bob, viewPage, p7)
	bobChangesP8 := hasProjectPerm(bob, "projects.change_page", p8)
	cases := []struct {
		name  string
		cache bool
		steps []cacheStep
	}{
		{
			name: "second check of the same user and project issues no statement", cache: true,
			steps: []cacheStep{
				{name: "first", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "second", check: aliceViewsP7, statements: 0, allowed: true, reason: authz.ReasonProjectUser},
				{name: "another permission", check: hasProjectPerm(alice, "projects.add_page", p7), statements: 0, reason: authz.ReasonNoGrant},
				{name: "HasPerm", statements: 0, reason: authz.ReasonNoGrant,
					check: func(ctx context.Context, w *cacheWorld) (authz.Decision, error) {
						return w.f.e.HasPerm(ctx, w.alice, viewPage)
					}},
			},
		},
		{
			name: "another project loads that project alone, once", cache: true,
			steps: []cacheStep{
				{name: "p7", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "p8", check: hasProjectPerm(alice, viewPage, p8), statements: 1, reason: authz.ReasonNoGrant},
				{name: "p8 again", check: hasProjectPerm(alice, viewPage, p8), statements: 0, reason: authz.ReasonNoGrant},
				{name: "CheckMany over both", statements: 0, allowed: true, reason: authz.ReasonProjectUser,
					check: func(ctx context.Context, w *cacheWorld) (authz.Decision, error) {
						ds, err := w.f.e.CheckMany(ctx, w.alice, []authz.CheckRequest{{Perm: viewPage, Project: w.p8}, {Perm: viewPage, Project: w.p7}})
						if err != nil {
							return authz.Decision{}, err
						}
						return ds[1], nil
					}},
				{name: "ProjectPermissions", statements: 0, allowed: true, reason: authz.ReasonProjectUser,
					check: func(ctx context.Context, w *cacheWorld) (authz.Decision, error) {
						perms, err := w.f.e.ProjectPermissions(ctx, w.alice, w.p7)
						if err != nil || !cmp.Equal(perms, []string{viewPage}) {
							return authz.Decision{}, fmt.Errorf("ProjectPermissions(alice, p7) = %v, %v, want [%s]", perms, err, viewPage)
						}
						return authz.Decision{Allowed: true, Reason: authz.ReasonProjectUser}, nil
					}},
			},
		},
		{
			name: "each user is loaded once", cache: true,
			steps: []cacheStep{
				{name: "alice", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "bob", check: bobViewsP7, statements: 1, reason: authz.ReasonNoGrant},
				{name: "alice again", check: aliceViewsP7, statements: 0, allowed: true, reason: authz.ReasonProjectUser},
				{name: "bob again", check: bobViewsP7, statements: 0, reason: authz.ReasonNoGrant},
			},
		},
		{
			name: "a project that does not exist is remembered", cache: true,
			steps: []cacheStep{
				{name: "first", check: hasProjectPerm(alice, viewPage, func(*cacheWorld) int64 { return 999999 }), statements: 1, reason: authz.ReasonNoGrant, err: authz.ErrNotFound},
				{name: "second", check: hasProjectPerm(alice, viewPage, func(*cacheWorld) int64 { return 999999 }), statements: 0, reason: authz.ReasonNoGrant, err: authz.ErrNotFound},
			},
		},
		{
			name: "a project grant in the same request is seen by the next check", cache: true,
			steps: []cacheStep{
				{name: "before", check: bobViewsP7, statements: 1, reason: authz.ReasonNoGrant},
				{name: "grant", write: func(ctx context.Context, w *cacheWorld) error {
					return w.f.e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, viewPage, w.p7)
				}},
				{name: "after", check: bobViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "after, again", check: bobViewsP7, statements: 0, allowed: true, reason: authz.ReasonProjectUser},
			},
		},
		{
			name: "a global group grant in the same request is seen by the next check", cache: true,
			steps: []cacheStep{
				{name: "before", check: bobViewsP7, statements: 1, reason: authz.ReasonNoGrant},
				{name: "grant", write: func(ctx context.Context, w *cacheWorld) error {
					return w.f.e.GrantPerm(ctx, authz.Holder{Group: w.editors}, viewPage)
				}},
				{name: "after", check: bobViewsP7, statements: 1, allowed: true, reason: authz.ReasonGlobalGroup},
			},
		},
		{
			name: "a revocation in the same request is seen by the next check", cache: true,
			steps: []cacheStep{
				{name: "before", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "revoke", write: func(ctx context.Context, w *cacheWorld) error {
					_, err := w.f.e.RevokeProjectPerm(ctx, authz.Holder{User: w.alice}, viewPage, w.p7)
					return err
				}},
				{name: "after", check: aliceViewsP7, statements: 1, reason: authz.ReasonNoGrant},
			},
		},
		{
			name: "leaving a group in the same request is seen by the next check", cache: true,
			steps: []cacheStep{
				{name: "before", check: bobChangesP8, statements: 1, allowed: true, reason: authz.ReasonProjectGroup},
				{name: "leave", write: func(ctx context.Context, w *cacheWorld) error {
					_, err := w.f.e.RemoveUserFromGroup(ctx, w.bob, w.editors)
					return err
				}},
				{name: "after", check: bobChangesP8, statements: 1, reason: authz.ReasonNoGrant},
			},
		},
		{
			name: "a flag change in the same request is seen by the next check", cache: true,
			steps: []cacheStep{
				{name: "before", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "deactivate", write: func(ctx context.Context, w *cacheWorld) error {
					inactive := false
					_, err := w.f.e.UpdateUser(ctx, w.alice, &inactive, nil)
					return err
				}},
				{name: "after", check: aliceViewsP7, statements: 1, reason: authz.ReasonInactive},
			},
		},
		{
			name: "deleting the project in the same request is seen by the next check", cache: true,
			steps: []cacheStep{
				{name: "before", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "delete", write: func(ctx context.Context, w *cacheWorld) error {
					_, err := w.f.e.DeleteProject(ctx, w.p7)
					return err
				}},
				{name: "after", check: aliceViewsP7, statements: 1, reason: authz.ReasonNoGrant, err: authz.ErrNotFound},
			},
		},
		{
			name: "ClearRequestCache forces a reload", cache: true,
			steps: []cacheStep{
				{name: "first", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "second", check: aliceViewsP7, statements: 0, allowed: true, reason: authz.ReasonProjectUser},
				{name: "clear", write: func(ctx context.Context, _ *cacheWorld) error {
					authz.ClearRequestCache(ctx)
					return nil
				}},
				{name: "after clearing", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
			},
		},
		{
			name: "without a request cache each check loads again",
			steps: []cacheStep{
				{name: "first", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "second", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
				{name: "HasPerm", statements: 1, reason: authz.ReasonNoGrant,
					check: func(ctx context.Context, w *cacheWorld) (authz.Decision, error) {
						return w.f.e.HasPerm(ctx, w.alice, viewPage)
					}},
				{name: "ClearRequestCache is harmless", write: func(ctx context.Context, _ *cacheWorld) error {
					authz.ClearRequestCache(ctx)
					return nil
				}},
				{name: "third", check: aliceViewsP7, statements: 1, allowed: true, reason: authz.ReasonProjectUser},
			},
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newCacheWorld(t, db)
				// Load the registry first, so that only grants are counted.
				if _, err := w.f.e.HasPerm(context.Background(), w.alice, viewPage); err != nil {
					t.Fatal(err)
				}
				c := &models.StatementCounter{}
				ctx := c.WithCounting(context.Background())
				if tc.cache {
					ctx = authz.WithRequestCache(ctx)
				}
				for _, s := range tc.steps {
					if s.write != nil {
						if err := s.write(ctx, w); err != nil {
							t.Fatalf("%s: %v", s.name, err)
						}
						continue
					}
					c.Reset()
					d, err := s.check(ctx, w)
					if n := c.Count(); n != s.statements {
						t.Errorf("%s: statements = %d, want %d", s.name, n, s.statements)
					}
					if !errors.Is(err, s.err) {
						t.Fatalf("%s: error = %v, want %v", s.name, err, s.err)
					}
					if d.Allowed != s.allowed || d.Reason != s.reason {
						t.Errorf("%s: decision = %v/%s, want %v/%s", s.name, d.Allowed, d.Reason, s.allowed, s.reason)
					}
				}
			})
		}
	})
}

// clearingStore is a Store whose next LoadGrants, once armed, empties the
// request cache before it loads, as a write that another resolver of the
// same request makes while the load is in flight would.
type clearingStore struct {
	authz.Store
	armed atomic.Bool
}

func (s *clearingStore) LoadGrants(ctx context.Context, user int64, projects []int64) (*authz.Grants, error) {
	if s.armed.Swap(false) {
		authz.ClearRequestCache(ctx)
	}
	return s.Store.LoadGrants(ctx, user, projects)
}

// TestRequestCacheClearedDuringLoad: a check that finds some of its
// projects in the cache and loads the others must answer for all of them
// even when the cache is emptied while it loads.
func TestRequestCacheClearedDuringLoad(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCacheWorld(t, db)
		store := &clearingStore{Store: models.NewStore(db)}
		e := authz.NewEngine(store)
		ctx := authz.WithRequestCache(context.Background())
		if _, err := e.HasProjectPerm(ctx, w.bob, viewPage, w.p7); err != nil {
			t.Fatal(err)
		}
		store.armed.Store(true)
		got, err := e.CheckMany(ctx, w.bob, []authz.CheckRequest{
			{Perm: viewPage, Project: w.p7}, {Perm: "projects.change_page", Project: w.p8},
		})
		if err != nil {
			t.Fatalf("CheckMany(bob, p7 cached, p8 loaded while the cache is cleared) error = %v, want nil", err)
		}
		want := []authz.Decision{
			{Perm: viewPage, Project: w.p7, Reason: authz.ReasonNoGrant},
			{Allowed: true, Perm: "projects.change_page", Project: w.p8, Reason: authz.ReasonProjectGroup, Backend: authz.BuiltinBackendName},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CheckMany(bob) mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestRequestCacheConcurrent shares one request cache between goroutines
// that check, as gqlgen's concurrent resolvers do, while one of them grants
// and revokes through the same context. Every check must succeed, and the
// last answers must reflect the last write. Run with -race.
func TestRequestCacheConcurrent(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCacheWorld(t, db)
		e := w.f.e
		var projects []int64
		for i := range 4 {
			projects = append(projects, w.f.project(fmt.Sprintf("extra %d", i)))
		}
		projects = append(projects, w.p7, w.p8)
		ctx := authz.WithRequestCache(context.Background())
		const rounds = 10
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 4 {
			wg.Go(func() {
				for r := range rounds {
					x := projects[(i+r)%len(projects)]
					if _, err := e.HasProjectPerm(ctx, w.alice, viewPage, x); err != nil {
						errs <- fmt.Errorf("HasProjectPerm(alice, %s, %d): %w", viewPage, x, err)
						return
					}
					reqs := []authz.CheckRequest{{Perm: viewPage}}
					for _, p := range projects[:1+(i+r)%len(projects)] {
						reqs = append(reqs, authz.CheckRequest{Perm: viewPage, Project: p})
					}
					if _, err := e.CheckMany(ctx, w.alice, reqs); err != nil {
						errs <- fmt.Errorf("CheckMany(alice, %d requests): %w", len(reqs), err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for r := range rounds {
				x := projects[r%len(projects)]
				if err := e.GrantProjectPerm(ctx, authz.Holder{User: w.alice}, viewPage, x); err != nil {
					errs <- err
					return
				}
				if r%2 == 1 {
					if _, err := e.RevokeProjectPerm(ctx, authz.Holder{User: w.alice}, viewPage, x); err != nil {
						errs <- err
						return
					}
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// Even rounds grant, odd rounds grant and revoke: the last round
		// that touched a project decides whether alice holds view_page in it.
		held := map[int64]bool{w.p7: true}
		for r := range rounds {
			x := projects[r%len(projects)]
			held[x] = r%2 == 0
		}
		for _, x := range projects {
			d, err := e.HasProjectPerm(ctx, w.alice, viewPage, x)
			if err != nil || d.Allowed != held[x] {
				t.Errorf("HasProjectPerm(alice, %s, %d) after the writes = %v, %v, want %v, nil", viewPage, x, d.Allowed, err, held[x])
			}
		}
	})
}

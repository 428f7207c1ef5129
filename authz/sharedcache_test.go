package authz_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// testCachePoll is the cache's fallback poll in these tests: short, so
// that the SQLite cases, which have no push, see another instance's write
// quickly.
const testCachePoll = 20 * time.Millisecond

// propagationLimit bounds how long a test waits for another instance to see
// a write. It is no promise of speed (docs/consistency.md gives the
// window); it keeps a broken feed from hanging the test.
const propagationLimit = 10 * time.Second

// instance is one engine with its own shared cache over a database, as one
// server process would have.
type instance struct {
	e     *authz.Engine
	store *models.Store
	cache *authz.SharedCache
}

// newInstance opens url and starts an engine with a shared cache of
// capacity entries over it, reading revisions through feed (the store
// itself when nil).
func newInstance(t testing.TB, url string, capacity int, feed func(*models.Store) authz.RevisionFeed) *instance {
	t.Helper()
	db, err := models.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := models.NewStore(db)
	cache := authz.NewSharedCache(capacity, nil)
	var f authz.RevisionFeed = store
	if feed != nil {
		f = feed(store)
	}
	stop := cache.Start(context.Background(), f, testCachePoll)
	t.Cleanup(stop)
	waitFor(t, "the cache to serve", func() bool { return cache.Stats().Serving })
	return &instance{e: authz.NewEngine(store, authz.WithSharedCache(cache)), store: store, cache: cache}
}

// migratedURL returns the address of a fresh, migrated database.
func migratedURL(t testing.TB, dialect string) string {
	t.Helper()
	url := dbtest.URL(t, dialect)
	db, err := models.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := models.NewMigrator(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	return url
}

// caughtUp waits until in's cache knows the store's current revision.
func caughtUp(t testing.TB, in *instance) {
	t.Helper()
	want, err := in.store.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cache to learn of the newest revision", func() bool { return in.cache.Stats().Revision >= want })
}

// waitFor polls ok until it holds, failing t after propagationLimit.
func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(propagationLimit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", propagationLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counted returns a context that counts statements into a fresh counter,
// without a request cache: each call is a new request.
func counted() (context.Context, *models.StatementCounter) {
	c := &models.StatementCounter{}
	return c.WithCounting(context.Background()), c
}

// sharedWorld is a user with a project grant, a group grant and a global
// grant, made through one instance.
type sharedWorld struct {
	alice, bob    int64
	group         int64
	project       int64
	otherProject  int64
	secondProject int64
}

func newSharedWorld(t testing.TB, e *authz.Engine) sharedWorld {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	alice, err := e.CreateUser(ctx, "alice", true, false)
	must(err)
	bob, err := e.CreateUser(ctx, "bob", true, false)
	must(err)
	g, err := e.CreateGroup(ctx, "editors")
	must(err)
	var ps []int64
	for i := range 3 {
		p, err := e.CreateProject(ctx, fmt.Sprintf("p%d", i), 0)
		must(err)
		ps = append(ps, p.ID)
	}
	must(e.AddUserToGroup(ctx, alice.ID, g.ID))
	must(e.GrantProjectPerm(ctx, authz.Holder{User: alice.ID}, "projects.view_page", ps[0]))
	must(e.GrantProjectPerm(ctx, authz.Holder{Group: g.ID}, "projects.change_page", ps[0]))
	return sharedWorld{alice: alice.ID, bob: bob.ID, group: g.ID, project: ps[0], otherProject: ps[1], secondProject: ps[2]}
}

func allowed(t *testing.T, ctx context.Context, e *authz.Engine, user int64, perm string, project int64) bool {
	t.Helper()
	d, err := e.HasProjectPerm(ctx, user, perm, project)
	if err != nil {
		t.Fatalf("HasProjectPerm(%d, %s, %d): %v", user, perm, project, err)
	}
	return d.Allowed
}

// TestSharedCacheStatements: a warm check reads no database, a check that
// asks for full consistency always does, and a cache that is off or not
// serving changes no answer.
func TestSharedCacheStatements(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			in := newInstance(t, migratedURL(t, dialect), 1000, nil)
			w := newSharedWorld(t, in.e)
			steps := []struct {
				name  string
				full  bool
				want  bool
				stmts int64
			}{
				{"cold", false, true, 1},
				{"warm", false, true, 0},
				{"warm again", false, true, 0},
				{"full consistency", true, true, 1},
				{"warm after full", false, true, 0},
			}
			for _, s := range steps {
				ctx, c := counted()
				if s.full {
					ctx = authz.WithConsistency(ctx, authz.Full)
				}
				if got := allowed(t, ctx, in.e, w.alice, "projects.view_page", w.project); got != s.want {
					t.Errorf("%s: HasProjectPerm = %v, want %v", s.name, got, s.want)
				}
				if got := c.Count(); got != s.stmts {
					t.Errorf("%s: %d statements, want %d", s.name, got, s.stmts)
				}
			}
			// A batch over projects of which one is cached loads the rest
			// in one statement, then all of it is warm.
			reqs := []authz.CheckRequest{{Perm: "projects.view_page", Project: w.project},
				{Perm: "projects.view_page", Project: w.otherProject}, {Perm: "projects.change_page", Project: w.secondProject}}
			for i, want := range []int64{1, 0} {
				ctx, c := counted()
				ds, err := in.e.CheckMany(ctx, w.alice, reqs)
				if err != nil {
					t.Fatal(err)
				}
				if !ds[0].Allowed || ds[1].Allowed || ds[2].Allowed {
					t.Errorf("CheckMany #%d = %+v, want allowed, denied, denied", i, ds)
				}
				if got := c.Count(); got != want {
					t.Errorf("CheckMany #%d: %d statements, want %d", i, got, want)
				}
			}
			st := in.cache.Stats()
			if st.Hits == 0 || st.Misses == 0 || st.Bypasses == 0 || st.Entries == 0 {
				t.Errorf("Stats() = %+v, want hits, misses, bypasses and entries", st)
			}
		})
	}
}

// TestSharedCacheSeesOwnWrites: every kind of write through the engine is
// seen by the very next check, with the cache warm before the write.
func TestSharedCacheSeesOwnWrites(t *testing.T) {
	type change struct {
		name  string
		write func(ctx context.Context, e *authz.Engine, w sharedWorld) error
		// check is the question the write changes, and want its answer after.
		perm    string
		user    func(w sharedWorld) int64
		project func(w sharedWorld) int64
		want    bool
	}
	alice := func(w sharedWorld) int64 { return w.alice }
	bob := func(w sharedWorld) int64 { return w.bob }
	project := func(w sharedWorld) int64 { return w.project }
	other := func(w sharedWorld) int64 { return w.otherProject }
	changes := []change{
		{"project user grant", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			return e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.view_page", w.project)
		}, "projects.view_page", bob, project, true},
		{"project user revoke", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			_, err := e.RevokeProjectPerm(ctx, authz.Holder{User: w.alice}, "projects.view_page", w.project)
			return err
		}, "projects.view_page", alice, project, false},
		{"group project grant", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			return e.GrantProjectPerm(ctx, authz.Holder{Group: w.group}, "projects.add_page", w.otherProject)
		}, "projects.add_page", alice, other, true},
		{"leave the group", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			_, err := e.RemoveUserFromGroup(ctx, w.alice, w.group)
			return err
		}, "projects.change_page", alice, project, false},
		{"join the group", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			return e.AddUserToGroup(ctx, w.bob, w.group)
		}, "projects.change_page", bob, project, true},
		{"global user grant", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			return e.GrantPerm(ctx, authz.Holder{User: w.bob}, "projects.delete_page")
		}, "projects.delete_page", bob, other, true},
		{"global group grant", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			return e.GrantPerm(ctx, authz.Holder{Group: w.group}, "projects.publish_page")
		}, "projects.publish_page", alice, other, true},
		{"deactivate", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			f := false
			_, err := e.UpdateUser(ctx, w.alice, &f, nil)
			return err
		}, "projects.view_page", alice, project, false},
		{"make superuser", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			tr := true
			_, err := e.UpdateUser(ctx, w.bob, nil, &tr)
			return err
		}, "projects.manage_members", bob, other, true},
		{"delete the group", func(ctx context.Context, e *authz.Engine, w sharedWorld) error {
			_, err := e.DeleteGroup(ctx, w.group)
			return err
		}, "projects.change_page", alice, project, false},
	}
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, c := range changes {
				t.Run(c.name, func(t *testing.T) {
					in := newInstance(t, migratedURL(t, dialect), 1000, nil)
					w := newSharedWorld(t, in.e)
					ctx := context.Background()
					before := allowed(t, ctx, in.e, c.user(w), c.perm, c.project(w))
					if before == c.want {
						t.Fatalf("before the write, HasProjectPerm = %v already", before)
					}
					allowed(t, ctx, in.e, c.user(w), c.perm, c.project(w)) // warm
					if err := c.write(ctx, in.e, w); err != nil {
						t.Fatal(err)
					}
					if got := allowed(t, ctx, in.e, c.user(w), c.perm, c.project(w)); got != c.want {
						t.Errorf("after the write, HasProjectPerm = %v, want %v", got, c.want)
					}
				})
			}
			t.Run("delete the project", func(t *testing.T) {
				in := newInstance(t, migratedURL(t, dialect), 1000, nil)
				w := newSharedWorld(t, in.e)
				ctx := context.Background()
				allowed(t, ctx, in.e, w.alice, "projects.view_page", w.project)
				if _, err := in.e.DeleteProject(ctx, w.project); err != nil {
					t.Fatal(err)
				}
				_, err := in.e.HasProjectPerm(ctx, w.alice, "projects.view_page", w.project)
				if !errors.Is(err, authz.ErrNotFound) {
					t.Errorf("HasProjectPerm after DeleteProject: %v, want NOT_FOUND", err)
				}
			})
		})
	}
}

// TestSharedCacheAcrossInstances is the "new enemy" problem: two instances
// over one database, each with a warm cache; a grant and then a revoke
// through one are seen by the other within the window of
// docs/consistency.md (PostgreSQL pushes the revision; SQLite is polled).
func TestSharedCacheAcrossInstances(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			url := migratedURL(t, dialect)
			a := newInstance(t, url, 1000, nil)
			b := newInstance(t, url, 1000, nil)
			w := newSharedWorld(t, a.e)
			ctx := context.Background()
			for range 2 { // warm b
				if allowed(t, ctx, b.e, w.bob, "projects.view_page", w.project) {
					t.Fatal("bob may view pages before any grant")
				}
			}
			if err := a.e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.view_page", w.project); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the grant on the other instance", func() bool {
				return allowed(t, ctx, b.e, w.bob, "projects.view_page", w.project)
			})
			allowed(t, ctx, b.e, w.bob, "projects.view_page", w.project) // warm again
			if _, err := a.e.RevokeProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.view_page", w.project); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the revoke on the other instance", func() bool {
				return !allowed(t, ctx, b.e, w.bob, "projects.view_page", w.project)
			})
			// Full consistency sees a write at once, whatever the feed.
			if err := a.e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.add_page", w.project); err != nil {
				t.Fatal(err)
			}
			if !allowed(t, authz.WithConsistency(ctx, authz.Full), b.e, w.bob, "projects.add_page", w.project) {
				t.Error("a FULL check on the other instance does not see the grant")
			}
		})
	}
}

// gatedStore holds every grant load until its gate opens, so that a test
// can have concurrent callers all miss the cache before any load ends.
type gatedStore struct {
	*models.Store
	gate chan struct{} // nil: loads pass at once
}

func (s *gatedStore) LoadGrants(ctx context.Context, user int64, projects []int64) (*authz.Grants, error) {
	if s.gate != nil {
		<-s.gate
	}
	return s.Store.LoadGrants(ctx, user, projects)
}

// TestSharedCacheSingleflight: concurrent cold checks of one key share one
// statement, right after the writes that made the world, while the
// instance may not yet know their revision. Free, the callers run as they
// come, and some miss the cache while the load runs but ask after it
// ended: they find what it stored. Held, the load waits until every caller
// has missed, so that without the shared flight every caller would read
// the database.
func TestSharedCacheSingleflight(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		for _, held := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/held=%v", dialect, held), func(t *testing.T) {
				in := newInstance(t, migratedURL(t, dialect), 1000, nil)
				store := &gatedStore{Store: in.store}
				e := authz.NewEngine(store, authz.WithSharedCache(in.cache))
				w := newSharedWorld(t, e)
				const callers = 32
				gate := make(chan struct{})
				open := sync.OnceFunc(func() { close(gate) })
				defer open()
				if held {
					store.gate = gate
				}
				misses := in.cache.Stats().Misses
				c := &models.StatementCounter{}
				ctx := c.WithCounting(context.Background())
				var wg sync.WaitGroup
				var wrong atomic.Int64
				start := make(chan struct{})
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						d, err := e.HasProjectPerm(ctx, w.alice, "projects.view_page", w.project)
						if err != nil || !d.Allowed {
							wrong.Add(1)
						}
					}()
				}
				close(start)
				if held {
					waitFor(t, "every caller to miss the cache", func() bool { return in.cache.Stats().Misses-misses >= callers })
					open()
				}
				wg.Wait()
				if wrong.Load() != 0 {
					t.Errorf("%d of %d checks were not allowed", wrong.Load(), callers)
				}
				if got := c.Count(); got != 1 {
					t.Errorf("%d concurrent cold checks ran %d statements, want 1", callers, got)
				}
			})
		}
	}
}

// TestSharedCacheBound: the cache never holds more entries than its
// capacity, evicting the least recently used.
func TestSharedCacheBound(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			const capacity = 8
			in := newInstance(t, migratedURL(t, dialect), capacity, nil)
			w := newSharedWorld(t, in.e)
			ctx := context.Background()
			var projects []int64
			for i := range 20 {
				p, err := in.e.CreateProject(ctx, fmt.Sprintf("bound %d", i), 0)
				if err != nil {
					t.Fatal(err)
				}
				projects = append(projects, p.ID)
			}
			for _, p := range projects {
				allowed(t, ctx, in.e, w.alice, "projects.view_page", p)
				if n := in.cache.Stats().Entries; n > capacity {
					t.Fatalf("Stats().Entries = %d, want at most %d", n, capacity)
				}
			}
			if st := in.cache.Stats(); st.Evictions == 0 || st.Entries != capacity {
				t.Errorf("Stats() = %+v, want %d entries and evictions", st, capacity)
			}
			// The most recent project is still warm.
			cctx, c := counted()
			allowed(t, cctx, in.e, w.alice, "projects.view_page", projects[len(projects)-1])
			if c.Count() != 0 {
				t.Errorf("the most recently checked project cost %d statements, want 0", c.Count())
			}
		})
	}
}

// failingFeed is a revision feed that can be cut, as a lost database
// connection would.
type failingFeed struct {
	authz.RevisionFeed
	cut atomic.Bool

	mu sync.Mutex
	// mends counts heals; sinceMend the revision reads begun since the
	// last heal that have ended.
	mends, sinceMend int
}

var errFeedCut = errors.New("feed cut")

func (f *failingFeed) Revision(ctx context.Context) (int64, error) {
	f.mu.Lock()
	mend := f.mends
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.mends == mend {
			f.sinceMend++
		}
		f.mu.Unlock()
	}()
	if f.cut.Load() {
		return 0, errFeedCut
	}
	return f.RevisionFeed.Revision(ctx)
}

// heal ends the cut.
func (f *failingFeed) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut.Store(false)
	f.mends++
	f.sinceMend = 0
}

// readsSinceHeal is the number of revision reads begun after the last heal
// that have ended.
func (f *failingFeed) readsSinceHeal() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sinceMend
}

// WatchRevisions runs the real feed until the cut, checking for it between
// notifications.
func (f *failingFeed) WatchRevisions(ctx context.Context, ready func() error, seen func(int64)) error {
	if f.cut.Load() {
		return errFeedCut
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for wctx.Err() == nil && !f.cut.Load() {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := f.RevisionFeed.WatchRevisions(wctx, ready, seen)
	if f.cut.Load() {
		return errFeedCut
	}
	return err
}

// TestSharedCacheStopsServingWhenTheFeedFails: while the cache cannot
// learn of revisions it serves nothing, so every check reads the
// database; it serves again once the feed is back.
func TestSharedCacheStopsServingWhenTheFeedFails(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			var feed *failingFeed
			in := newInstance(t, migratedURL(t, dialect), 1000, func(s *models.Store) authz.RevisionFeed {
				feed = &failingFeed{RevisionFeed: s}
				return feed
			})
			w := newSharedWorld(t, in.e)
			allowed(t, context.Background(), in.e, w.alice, "projects.view_page", w.project)
			feed.cut.Store(true)
			waitFor(t, "the cache to stop serving", func() bool { return !in.cache.Stats().Serving })
			ctx, c := counted()
			if !allowed(t, ctx, in.e, w.alice, "projects.view_page", w.project) {
				t.Error("HasProjectPerm denied with the feed cut, want allowed from the database")
			}
			if c.Count() != 1 {
				t.Errorf("a check with the feed cut ran %d statements, want 1 (no cache)", c.Count())
			}
			feed.heal()
			// A poll that read the cut may end after the feed is back, and
			// stop the cache serving again: polls run in turn, and at most
			// one read after the heal is the feed's own, so once two have
			// ended no read of the cut is left.
			waitFor(t, "the cache to serve again", func() bool {
				return in.cache.Stats().Serving && feed.readsSinceHeal() >= 2
			})
			allowed(t, context.Background(), in.e, w.alice, "projects.view_page", w.project)
			ctx, c = counted()
			allowed(t, ctx, in.e, w.alice, "projects.view_page", w.project)
			if c.Count() != 0 {
				t.Errorf("a warm check after recovery ran %d statements, want 0", c.Count())
			}
		})
	}
}

// heldFeed is a revision feed whose next revision read, once armed, is
// held after it read the store until released, as a slow poll would be.
type heldFeed struct {
	authz.RevisionFeed
	armed         atomic.Bool
	read, release chan struct{}
	reads         atomic.Int64 // reads returned
}

func (f *heldFeed) Revision(ctx context.Context) (int64, error) {
	rev, err := f.RevisionFeed.Revision(ctx)
	if f.armed.CompareAndSwap(true, false) {
		close(f.read)
		<-f.release
	}
	f.reads.Add(1)
	return rev, err
}

// TestSharedCacheSlowPoll: a poll that read the revision before a write
// and ends after a load brought the write's revision is not taken for a
// reset store, which would empty the cache: what the load stored stays
// warm.
func TestSharedCacheSlowPoll(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			feed := &heldFeed{read: make(chan struct{}), release: make(chan struct{})}
			in := newInstance(t, migratedURL(t, dialect), 1000, func(s *models.Store) authz.RevisionFeed {
				feed.RevisionFeed = s
				return feed
			})
			release := sync.OnceFunc(func() { close(feed.release) })
			defer release()
			w := newSharedWorld(t, in.e)
			ctx := context.Background()
			feed.armed.Store(true)
			select {
			case <-feed.read:
			case <-time.After(propagationLimit):
				t.Fatalf("waited %s for a poll", propagationLimit)
			}
			if err := in.e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.add_page", w.otherProject); err != nil {
				t.Fatal(err)
			}
			if !allowed(t, ctx, in.e, w.alice, "projects.view_page", w.project) {
				t.Fatal("HasProjectPerm denied, want allowed")
			}
			// The held poll returns the revision before the grant; the
			// next read starts once it is taken in, as polls run in turn.
			n := feed.reads.Load()
			release()
			waitFor(t, "the held poll to be taken in", func() bool { return feed.reads.Load() >= n+2 })
			cctx, c := counted()
			if !allowed(t, cctx, in.e, w.alice, "projects.view_page", w.project) {
				t.Error("HasProjectPerm denied after the slow poll, want allowed")
			}
			if c.Count() != 0 {
				t.Errorf("a warm check after a slow poll ran %d statements, want 0", c.Count())
			}
		})
	}
}

// TestSharedCacheTokens: a token's user is cached, and revoking the token
// or deactivating the user is seen by the next look-up.
func TestSharedCacheTokens(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			in := newInstance(t, migratedURL(t, dialect), 1000, nil)
			w := newSharedWorld(t, in.e)
			ctx := context.Background()
			tokens := in.cache.Tokens(in.store)
			tok, secret, err := in.store.CreateToken(ctx, w.alice, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			// The token's creation bumps the revision too; once its
			// notification is in, nothing retires the cached user but
			// the writes below.
			caughtUp(t, in)
			for i, want := range []int64{1, 0} {
				cctx, c := counted()
				u, err := tokens.UserByToken(cctx, secret)
				if err != nil || u.ID != w.alice {
					t.Fatalf("UserByToken #%d = %+v, %v; want alice", i, u, err)
				}
				if c.Count() != want {
					t.Errorf("UserByToken #%d ran %d statements, want %d", i, c.Count(), want)
				}
			}
			if _, err := in.store.RevokeToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			in.e.NoteWrite(ctx)
			if _, err := tokens.UserByToken(ctx, secret); !errors.Is(err, authz.ErrUnauthenticated) {
				t.Errorf("UserByToken after revoke: %v, want ErrUnauthenticated", err)
			}
			_, bobSecret, err := in.store.CreateToken(ctx, w.bob, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tokens.UserByToken(ctx, bobSecret); err != nil {
				t.Fatal(err)
			}
			f := false
			if _, err := in.e.UpdateUser(ctx, w.bob, &f, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := tokens.UserByToken(ctx, bobSecret); !errors.Is(err, authz.ErrUnauthenticated) {
				t.Errorf("UserByToken after deactivation: %v, want ErrUnauthenticated", err)
			}
		})
	}
}

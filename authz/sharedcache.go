package authz

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrNoRevisionFeed is what RevisionFeed.WatchRevisions returns for a store
// that cannot push revisions (SQLite): the cache then learns of other
// processes' writes by polling alone.
var ErrNoRevisionFeed = errors.New("the store cannot push revisions")

// SharedCache holds, across requests, what checks load: per user its flags
// and global permissions, per (user, project) the permissions held there,
// and per API token its user. It never serves an answer older than a write
// that has returned (docs/consistency.md):
//   - every entry carries the revision of the snapshot it was read from,
//     and is served only while that is the newest revision the instance
//     knows;
//   - the instance learns of newer revisions from its own writes at once
//     (NoteWrite), from every load (a load reads the revision with the
//     grants), and from other instances through the store's push feed,
//     with a poll as a fallback;
//   - while the feed is down, or the last poll failed, the cache serves
//     nothing and every check reads the database, so an outage fails
//     closed instead of answering from memory.
//
// Entries are bounded by a count and evicted least recently used first.
// Concurrent loads of the same key share one statement. It is safe for
// concurrent use.
type SharedCache struct {
	capacity int
	logger   *slog.Logger

	mu      sync.Mutex
	entries map[cacheKey]*list.Element
	order   *list.List // of *cacheEntry, most recently used first

	// known is the newest revision the instance knows of; epoch counts
	// the instance's own writes, so that one invalidates at once what was
	// loaded before it, whatever revision the store gave it.
	known atomic.Int64
	epoch atomic.Uint64
	// listening: the push feed is connected and was caught up with a
	// read; pushless: the store has no push feed; polled: the last poll
	// succeeded. The cache serves only when polled and (listening or
	// pushless).
	listening, pushless, polled atomic.Bool

	hits, misses, bypasses, evictions atomic.Uint64

	flight singleflight.Group
}

// cacheKey names an entry: a user's flags and global grants (project 0),
// a user's grants in a project, or a token (by its hash).
type cacheKey struct {
	user, project int64
	token         string
}

// cacheEntry is one cached value with the revision and epoch it is of.
type cacheEntry struct {
	key   cacheKey
	rev   int64
	epoch uint64
	// user entries
	found, isActive, isSuperuser bool
	username                     string
	global                       map[int64]Sources
	// project entries: exists false means the project does not exist
	exists bool
	perms  map[int64]Sources
	// token entries (API tokens by hash, identities by identityKey)
	tokenUser User
	tokenInfo TokenInfo
}

// CacheStats is a snapshot of the cache's counters.
type CacheStats struct {
	// Hits and Misses count lookups of checks and token look-ups that the
	// cache answered, and that needed a load; Bypasses those that went to
	// the store because the cache was not serving or a check asked for
	// full consistency.
	Hits, Misses, Bypasses, Evictions uint64
	// Entries is the number of entries held, Capacity the bound.
	Entries, Capacity int
	// Revision is the newest revision the instance knows; Serving says
	// whether the cache answers at all (its feed is healthy).
	Revision int64
	Serving  bool
}

// DefaultCacheEntries is the default bound of the shared cache: 100,000
// entries take some 40 MB (docs/benchmarks.md) and hold every (user,
// project) pair that a busy service checks within minutes.
const DefaultCacheEntries = 100000

// cacheLoadTimeout bounds a shared load: it runs detached from the request
// that started it, as other requests wait for it too, so a hung database
// must not hold it forever.
const cacheLoadTimeout = 10 * time.Second

// NewSharedCache returns a cache of at most capacity entries. It serves
// nothing until Start has caught up with the store's revision.
func NewSharedCache(capacity int, logger *slog.Logger) *SharedCache {
	if logger == nil {
		logger = slog.Default()
	}
	return &SharedCache{capacity: max(capacity, 1), logger: logger,
		entries: map[cacheKey]*list.Element{}, order: list.New()}
}

// WithSharedCache makes the engine keep permission sets in c across
// requests. The cache must be started (Start) to serve.
func WithSharedCache(c *SharedCache) Option {
	return func(e *Engine) { e.cache = c }
}

// SharedCache returns the engine's shared cache, or nil.
func (e *Engine) SharedCache() *SharedCache { return e.cache }

// NoteWrite tells the engine that something a check reads has changed
// through a path other than its own write methods (an API token revoked,
// say): the shared cache stops serving what it loaded before. The engine's
// own writes call it themselves.
func (e *Engine) NoteWrite(ctx context.Context) {
	ClearRequestCache(ctx)
	e.cache.NoteWrite()
}

// NoteWrite makes every entry loaded before now unservable. A nil cache
// ignores it.
func (c *SharedCache) NoteWrite() {
	if c != nil {
		c.epoch.Add(1)
	}
}

// Stats returns the cache's counters.
func (c *SharedCache) Stats() CacheStats {
	c.mu.Lock()
	n := c.order.Len()
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bypasses: c.bypasses.Load(),
		Evictions: c.evictions.Load(), Entries: n, Capacity: c.capacity,
		Revision: c.known.Load(), Serving: c.serving()}
}

// serving reports whether the cache may answer.
func (c *SharedCache) serving() bool {
	return c.polled.Load() && (c.listening.Load() || c.pushless.Load())
}

// Start keeps the cache informed of the store's revisions until ctx ends
// or stop is called: it listens to the push feed, reconnecting with a
// growing pause when it fails, and polls every poll as a fallback.
func (c *SharedCache) Start(ctx context.Context, feed RevisionFeed, poll time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.watch(ctx, feed) }()
	go func() { defer wg.Done(); c.pollLoop(ctx, feed, poll) }()
	return func() { cancel(); wg.Wait() }
}

// Reconnect pauses of the push feed: short at first, as a dropped
// connection usually comes back at once, and at most a few seconds while
// the database is down, as the cache serves nothing meanwhile anyway.
const (
	minReconnectPause = 50 * time.Millisecond
	maxReconnectPause = 2 * time.Second
)

// watch runs the push feed, reconnecting until ctx ends.
func (c *SharedCache) watch(ctx context.Context, feed RevisionFeed) {
	pause := minReconnectPause
	for ctx.Err() == nil {
		err := feed.WatchRevisions(ctx, func() error {
			// Caught up after listening starts, so that no revision falls
			// between the read and the first notification.
			if err := c.refresh(ctx, feed); err != nil {
				return err
			}
			c.listening.Store(true)
			pause = minReconnectPause
			return nil
		}, c.observe)
		c.listening.Store(false)
		if errors.Is(err, ErrNoRevisionFeed) {
			c.pushless.Store(true)
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.logger.Warn("revision feed lost; the shared cache serves nothing until it is back", "error", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, maxReconnectPause)
	}
}

// pollLoop reads the revision now and every poll until ctx ends.
func (c *SharedCache) pollLoop(ctx context.Context, feed RevisionFeed, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := c.refresh(ctx, feed); err != nil && ctx.Err() == nil {
			c.logger.Warn("revision poll failed; the shared cache serves nothing until one succeeds", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh reads the store's revision. A failure stops the cache serving
// until a read succeeds; a revision lower than the one known means the
// store was reset, and everything cached goes.
func (c *SharedCache) refresh(ctx context.Context, feed RevisionFeed) error {
	rctx, cancel := context.WithTimeout(ctx, cacheLoadTimeout)
	defer cancel()
	// A read that started before a load observed a newer revision may
	// end after it: only a revision lower than one known before the read
	// started shows a reset store.
	before := c.known.Load()
	rev, err := feed.Revision(rctx)
	if err != nil {
		c.polled.Store(false)
		return err
	}
	if rev < before {
		c.known.Store(rev)
		c.epoch.Add(1)
	}
	c.observe(rev)
	c.polled.Store(true)
	return nil
}

// observe raises the known revision to rev.
func (c *SharedCache) observe(rev int64) {
	for {
		old := c.known.Load()
		if rev <= old || c.known.CompareAndSwap(old, rev) {
			return
		}
	}
}

// usable reports whether a lookup in ctx may use the cache, counting a
// bypass when not.
func (c *SharedCache) usable(ctx context.Context) bool {
	if c == nil {
		return false
	}
	if !c.serving() || consistencyFrom(ctx) == Full {
		c.bypasses.Add(1)
		return false
	}
	return true
}

// get returns the servable entry under k, marking it recently used. The
// caller holds mu.
func (c *SharedCache) get(k cacheKey, rev int64, epoch uint64) *cacheEntry {
	el := c.entries[k]
	if el == nil {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if e.rev != rev || e.epoch != epoch {
		return nil
	}
	c.order.MoveToFront(el)
	return e
}

// put stores e, evicting the least recently used entries beyond the bound.
// The caller holds mu.
func (c *SharedCache) put(e *cacheEntry) {
	if el := c.entries[e.key]; el != nil {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.entries[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.capacity {
		last := c.order.Back()
		delete(c.entries, last.Value.(*cacheEntry).key)
		c.order.Remove(last)
		c.evictions.Add(1)
	}
}

// emptyPerms stands for an existing project where the user holds nothing.
// It is shared and never written.
var emptyPerms = map[int64]Sources{}

// lookupGrants returns the user's grants in projects from the cache, or
// nil and the projects it lacks (all of them when it lacks the user, or
// the token, when not "", that the grants must come with).
func (c *SharedCache) lookupGrants(user int64, projects []int64, token string, rev int64, epoch uint64) (g *Grants, cached map[int64]*cacheEntry, missing []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.get(cacheKey{user: user}, rev, epoch)
	if u == nil {
		return nil, nil, projects
	}
	if token != "" {
		// The token's entry is valid at the revision the grants are of:
		// a revocation is a newer revision, or a write of the instance.
		if t := c.get(cacheKey{token: token}, rev, epoch); t == nil || t.tokenUser.ID != user || t.tokenInfo.Expired(time.Now()) {
			return nil, nil, projects
		}
	}
	for _, p := range projects {
		e := c.get(cacheKey{user: user, project: p}, rev, epoch)
		if e == nil {
			missing = append(missing, p)
			continue
		}
		if cached == nil {
			cached = make(map[int64]*cacheEntry, len(projects))
		}
		cached[p] = e
	}
	if len(missing) > 0 {
		return nil, cached, missing
	}
	g = &Grants{UserFound: u.found, Username: u.username, IsActive: u.isActive, IsSuperuser: u.isSuperuser,
		Global: u.global, Projects: make(map[int64]map[int64]Sources, len(projects)), Revision: rev}
	for p, e := range cached {
		if e.exists {
			g.Projects[p] = e.perms
		}
	}
	return g, nil, nil
}

// servable returns the user's grants in projects (with token, when it is
// not "", valid at the same revision) from the cache as of the newest
// known revision and epoch, or nil when it lacks any of them or is not
// serving.
func (c *SharedCache) servable(user int64, projects []int64, token string, epoch uint64) *Grants {
	if !c.serving() {
		return nil
	}
	g, _, _ := c.lookupGrants(user, projects, token, c.known.Load(), epoch)
	return g
}

// storeGrants caches what a load of the user's grants in projects brought,
// if it is of the newest known revision and no write of the instance
// happened since epoch. A user that does not exist is not cached.
func (c *SharedCache) storeGrants(user int64, projects []int64, g *Grants, epoch uint64) {
	if g.Revision == 0 || !g.UserFound {
		return
	}
	c.observe(g.Revision)
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.Revision != c.known.Load() || epoch != c.epoch.Load() {
		return
	}
	c.put(&cacheEntry{key: cacheKey{user: user}, rev: g.Revision, epoch: epoch, found: true,
		isActive: g.IsActive, isSuperuser: g.IsSuperuser, username: g.Username, global: emptyIfNil(g.Global)})
	for _, p := range projects {
		perms, ok := g.Projects[p]
		if len(perms) == 0 {
			perms = nil
		}
		c.put(&cacheEntry{key: cacheKey{user: user, project: p}, rev: g.Revision, epoch: epoch, exists: ok, perms: perms})
	}
}

func emptyIfNil(m map[int64]Sources) map[int64]Sources {
	if len(m) == 0 {
		return emptyPerms
	}
	return m
}

// loadGrants answers LoadGrants from the cache when it can, and with one
// statement, shared by concurrent callers asking the same, otherwise.
// When ctx names the token user authenticated with (WithViewerToken), the
// grants come with that token, valid at their revision: from the cache
// when it holds both, and otherwise from the statement that confirms the
// token (TokenGrantStore), which refuses a revoked one.
func (c *SharedCache) loadGrants(ctx context.Context, store GrantStore, user int64, projects []int64) (*Grants, error) {
	token := tokenOf(ctx, user)
	if _, ok := store.(TokenGrantStore); !ok {
		token = ""
	}
	if !c.usable(ctx) {
		g, _, _, err := loadFromStore(ctx, store, user, projects, token)
		return g, err
	}
	rev, epoch := c.known.Load(), c.epoch.Load()
	g, cached, missing := c.lookupGrants(user, projects, token, rev, epoch)
	if g != nil {
		c.hits.Add(1)
		return g, nil
	}
	c.misses.Add(1)
	loaded, err := c.sharedLoad(ctx, store, user, missing, token)
	if err != nil {
		return nil, err
	}
	if len(cached) == 0 {
		return withEmptyProjects(loaded), nil
	}
	if loaded.Revision != rev {
		// The cached part is of an older revision than the load: read
		// everything at the load's, rather than mix the two.
		all, err := c.sharedLoad(ctx, store, user, projects, token)
		if err != nil {
			return nil, err
		}
		return withEmptyProjects(all), nil
	}
	merged := *loaded
	merged.Projects = make(map[int64]map[int64]Sources, len(projects))
	for p, perms := range loaded.Projects {
		merged.Projects[p] = perms
	}
	for p, e := range cached {
		if e.exists {
			merged.Projects[p] = e.perms
		}
	}
	return withEmptyProjects(&merged), nil
}

// withEmptyProjects returns g with a non-nil map for every existing
// project, the shape stores give: callers tell existence by presence.
func withEmptyProjects(g *Grants) *Grants {
	for p, perms := range g.Projects {
		if perms == nil {
			g.Projects[p] = emptyPerms
		}
	}
	return g
}

// loadFromStore loads the user's grants in projects with one statement:
// through token when it is not "" (the store is then a TokenGrantStore),
// which returns the token's user too, and refuses a revoked token.
func loadFromStore(ctx context.Context, store GrantStore, user int64, projects []int64, token string) (*Grants, User, TokenInfo, error) {
	if token == "" {
		g, err := store.LoadGrants(ctx, user, projects)
		return g, User{}, TokenInfo{}, err
	}
	u, tok, g, err := store.(TokenGrantStore).LoadGrantsByToken(ctx, token, projects)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, User{}, TokenInfo{}, err
	case errors.Is(err, ErrUnauthenticated):
		return nil, User{}, TokenInfo{}, errTokenRevoked
	case err != nil:
		return nil, User{}, TokenInfo{}, err
	case u.ID != user:
		return nil, User{}, TokenInfo{}, errTokenRevoked
	}
	return g, u, tok, nil
}

// sharedLoad loads the user's grants in projects, with token when it is
// not "", once for every caller asking the same at the same time, and
// caches the result. The load runs detached from ctx, since other callers
// may wait for it; a caller whose ctx ends stops waiting.
func (c *SharedCache) sharedLoad(ctx context.Context, store GrantStore, user int64, projects []int64, token string) (*Grants, error) {
	sorted := slices.Clone(projects)
	slices.Sort(sorted)
	var key strings.Builder
	key.WriteString(strconv.FormatInt(user, 10))
	for _, p := range sorted {
		key.WriteByte(',')
		key.WriteString(strconv.FormatInt(p, 10))
	}
	if token != "" {
		key.WriteByte('/')
		key.WriteString(token)
	}
	ch := c.flight.DoChan(key.String(), func() (any, error) {
		epoch := c.epoch.Load()
		// A caller that missed the cache while the previous flight of
		// this key ran, and asks after it ended, finds here what that
		// flight stored, rather than reading the same again.
		if g := c.servable(user, sorted, token, epoch); g != nil {
			return g, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cacheLoadTimeout)
		defer cancel()
		g, u, tok, err := loadFromStore(lctx, store, user, sorted, token)
		if err != nil {
			return nil, err
		}
		c.storeGrants(user, sorted, g, epoch)
		if token != "" && u.IsActive && g.Revision != 0 {
			// Only a token that would authenticate is kept, so that
			// UserByTokenLoading may serve the entry too.
			c.storeToken(token, u, tok, g.Revision, epoch)
		}
		return g, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		// Callers share the answer: copy the top level, which
		// withEmptyProjects and merging write.
		g := *r.Val.(*Grants)
		g.Projects = make(map[int64]map[int64]Sources, len(r.Val.(*Grants).Projects))
		for p, perms := range r.Val.(*Grants).Projects {
			g.Projects[p] = perms
		}
		return &g, nil
	}
}

// Tokens returns store's token look-up through the cache: the user of a
// valid token is kept until the next revision, or until the token
// expires; refusals are not kept. When store is a ViewerStore, a look-up
// that reaches it also brings the user's global grants, and the grants of
// a ViewerLoad, which go to the shared cache and to the request cache of
// ctx. A nil cache looks every token up, the same way.
func (c *SharedCache) Tokens(store TokenStore) *CachedTokens {
	return &CachedTokens{cache: c, store: store}
}

// CachedTokens is a TokenStore through a shared cache (SharedCache.Tokens).
type CachedTokens struct {
	cache *SharedCache
	store TokenStore
}

// UserByToken implements TokenStore.
func (t *CachedTokens) UserByToken(ctx context.Context, secret string) (User, error) {
	u, _, err := t.UserByTokenLoading(ctx, secret, nil)
	return u, err
}

// viewerLookup is a look-up of a viewer in the store, loading also.
type viewerLookup func(ctx context.Context, also ViewerLoad) (User, TokenInfo, *Grants, *Grants, error)

// UserByTokenLoading is UserByToken that, when it reaches the store, loads
// what also returns (nil: nothing) with the token into the caches, in the
// same statement, and says what it learnt of the token. A token the
// shared cache holds costs no statement, and also is not called; an
// expired one is refused, cached or not.
func (t *CachedTokens) UserByTokenLoading(ctx context.Context, secret string, also func() ViewerLoad) (User, TokenInfo, error) {
	lookup := func(ctx context.Context, also ViewerLoad) (User, TokenInfo, *Grants, *Grants, error) {
		vs, ok := t.store.(ViewerStore)
		if !ok {
			u, err := t.store.UserByToken(ctx, secret)
			return u, TokenInfo{}, nil, nil, err
		}
		return vs.ViewerByToken(ctx, secret, also)
	}
	u, tok, err := t.viewer(ctx, HashToken(secret), lookup, also)
	if err == nil && tok.Expired(time.Now()) {
		return User{}, tok, ErrTokenExpired(tok.ExpiresAt)
	}
	return u, tok, err
}

// UserByIdentityLoading is UserByTokenLoading for the user of an issuer's
// subject (an OIDC/JWT caller), whose store must be an IdentityStore: one
// statement when it reaches the store, none when the shared cache holds
// the identity at the current revision.
func (t *CachedTokens) UserByIdentityLoading(ctx context.Context, issuer, subject string, also func() ViewerLoad) (User, error) {
	is, ok := t.store.(IdentityStore)
	if !ok {
		return User{}, errors.New("the token store cannot look identities up")
	}
	lookup := func(ctx context.Context, also ViewerLoad) (User, TokenInfo, *Grants, *Grants, error) {
		u, g, other, err := is.ViewerByIdentity(ctx, issuer, subject, also)
		return u, TokenInfo{}, g, other, err
	}
	u, _, err := t.viewer(ctx, identityKey(issuer, subject), lookup, also)
	return u, err
}

// identityKey is the cache key of an issuer's subject: it cannot collide
// with a token's, which is hex.
func identityKey(issuer, subject string) string {
	return "identity:" + HashToken(issuer+"\x00"+subject)
}

// viewer looks up the viewer whose cache key is key, through the cache.
func (t *CachedTokens) viewer(ctx context.Context, key string, lookup viewerLookup, also func() ViewerLoad) (User, TokenInfo, error) {
	c := t.cache
	if !c.usable(ctx) {
		u, tok, _, err := t.load(ctx, lookup, also, false, 0)
		return u, tok, err
	}
	// The revision is read before the look-up, which carries none: an
	// entry is then at worst older than its stamp, and any newer revision
	// retires it.
	rev, epoch := c.known.Load(), c.epoch.Load()
	k := cacheKey{token: key}
	c.mu.Lock()
	e := c.get(k, rev, epoch)
	c.mu.Unlock()
	if e != nil {
		c.hits.Add(1)
		return e.tokenUser, e.tokenInfo, nil
	}
	c.misses.Add(1)
	u, tok, read, err := t.load(ctx, lookup, also, true, epoch)
	if err != nil {
		return u, tok, err
	}
	if read != 0 {
		// The store read the revision with the token: the entry is of
		// exactly that one.
		rev = read
	}
	c.storeToken(k.token, u, tok, rev, epoch)
	return u, tok, nil
}

// storeToken caches that the token (or identity) whose key is key
// authenticates u at revision rev, if that is the newest known revision
// and no write of the instance happened since epoch.
func (c *SharedCache) storeToken(key string, u User, tok TokenInfo, rev int64, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev == c.known.Load() && epoch == c.epoch.Load() {
		c.put(&cacheEntry{key: cacheKey{token: key}, rev: rev, epoch: epoch, tokenUser: u, tokenInfo: tok})
	}
}

// load looks the viewer up in the store. A ViewerStore's grants, the
// viewer's and also's, prime the request cache and, when shared (epoch is
// the one read before the load), the shared cache; rev is the revision
// they were read at (0: unknown).
func (t *CachedTokens) load(ctx context.Context, lookup viewerLookup, loadAlso func() ViewerLoad, shared bool, epoch uint64) (u User, tok TokenInfo, rev int64, err error) {
	var also ViewerLoad
	if loadAlso != nil {
		also = loadAlso()
	}
	rc := RequestCacheFrom(ctx)
	var gen uint64
	if rc != nil {
		gen = rc.currentGeneration()
	}
	u, tok, g, other, err := lookup(ctx, also)
	if err != nil || g == nil {
		return u, tok, 0, err
	}
	var own []int64
	if also.User == 0 {
		own = also.Projects
	}
	if shared {
		t.cache.storeGrants(u.ID, own, g, epoch)
		if other != nil {
			t.cache.storeGrants(also.User, also.Projects, other, epoch)
		}
	}
	if rc != nil {
		rc.store(u.ID, g, own, gen)
		if other != nil {
			rc.store(also.User, other, also.Projects, gen)
		}
	}
	return u, tok, g.Revision, nil
}

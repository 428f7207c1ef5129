package authz

import (
	"context"
	"sync"
)

// RequestCache holds the grants loaded during one request, per user and per
// project, like the permission caches Django keeps on a user instance. It is
// safe for concurrent use, as gqlgen resolves fields concurrently.
type RequestCache struct {
	mu sync.Mutex
	// generation counts clears, so that a load that started before a clear
	// does not put stale grants back after it.
	generation uint64
	users      map[int64]*userGrants
}

// userGrants is what the cache knows of one user.
type userGrants struct {
	found, isActive, isSuperuser bool
	global                       map[int64]Sources
	projects                     map[int64]map[int64]Sources // absent: not loaded; nil map: project does not exist
}

type requestCacheKey struct{}

// WithRequestCache returns a context carrying a new, empty request cache.
// Checks made with that context share loaded grants.
func WithRequestCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestCacheKey{}, &RequestCache{users: map[int64]*userGrants{}})
}

// RequestCacheFrom returns the context's request cache, or nil.
func RequestCacheFrom(ctx context.Context) *RequestCache {
	c, _ := ctx.Value(requestCacheKey{}).(*RequestCache)
	return c
}

// ClearRequestCache empties the context's request cache, if it has one.
// Every write the engine makes calls it, so a check that follows a grant in
// the same request sees the grant.
func ClearRequestCache(ctx context.Context) {
	if c := RequestCacheFrom(ctx); c != nil {
		c.Clear()
	}
}

// Clear empties the cache.
func (c *RequestCache) Clear() {
	c.mu.Lock()
	c.generation++
	c.users = map[int64]*userGrants{}
	c.mu.Unlock()
}

// lookup returns the cached grants of user if they cover every project in
// projects, and the projects that are missing otherwise.
func (c *RequestCache) lookup(user int64, projects []int64) (ug *userGrants, missing []int64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ug = c.users[user]
	if ug == nil {
		return nil, projects, c.generation
	}
	for _, p := range projects {
		if _, ok := ug.projects[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, missing, c.generation
	}
	return ug, nil, c.generation
}

// store merges freshly loaded grants, unless the cache was cleared since
// the load began, and returns the merged view.
func (c *RequestCache) store(user int64, g *Grants, asked []int64, gen uint64) *userGrants {
	fresh := grantsView(g, asked)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.generation {
		return fresh
	}
	ug := c.users[user]
	if ug == nil {
		c.users[user] = fresh
		return fresh
	}
	// Flags and global grants come with every load; the newest are as good
	// as any, and project entries are added to those already held.
	merged := &userGrants{found: fresh.found, isActive: fresh.isActive, isSuperuser: fresh.isSuperuser,
		global: fresh.global, projects: make(map[int64]map[int64]Sources, len(ug.projects)+len(fresh.projects))}
	for p, perms := range ug.projects {
		merged.projects[p] = perms
	}
	for p, perms := range fresh.projects {
		merged.projects[p] = perms
	}
	c.users[user] = merged
	return merged
}

// grantsView turns a store answer into the cache's shape, recording every
// asked project: those absent from g do not exist.
func grantsView(g *Grants, asked []int64) *userGrants {
	ug := &userGrants{found: g.UserFound, isActive: g.IsActive, isSuperuser: g.IsSuperuser,
		global: g.Global, projects: make(map[int64]map[int64]Sources, len(asked))}
	for _, p := range asked {
		perms, ok := g.Projects[p]
		if ok && perms == nil {
			perms = map[int64]Sources{}
		}
		ug.projects[p] = perms
	}
	return ug
}

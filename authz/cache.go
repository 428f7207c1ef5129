package authz

import (
	"context"
	"sync"
)

// RequestCache holds what one request has loaded and decided, like the
// permission caches Django keeps on a user instance: grants per user and
// project, object-level results per (user, project, permission, object
// type, object id) with their log lines, and what rules see of users and
// projects. Clear empties all of it. It also remembers which decision logs
// the request has enqueued, which Clear keeps: a decision is logged once per
// request. It is safe for concurrent use, as gqlgen resolves fields
// concurrently.
type RequestCache struct {
	mu sync.Mutex
	// generation counts clears, so that a load that started before a clear
	// does not put stale grants back after it.
	generation uint64
	users      map[int64]*userGrants
	// objects holds object-level results; nil until the first is stored.
	objects map[objectKey]objectResult
	// ruleUsers and ruleProjects hold what rules see of users and
	// projects; nil until the first is stored.
	ruleUsers    map[int64]RuleUser
	ruleProjects map[int64]RuleProject
	// logged holds the decisions enqueued to the log sink during the
	// request, each with the log enqueued for it; Clear keeps it.
	logged map[logKey]DecisionLog
	// budget counts what the request has spent of the bounds of one
	// request (rule steps, log lines); Clear keeps it.
	budget requestBudget
}

// userGrants is what the cache knows of one user.
type userGrants struct {
	found, isActive, isSuperuser bool
	username                     string
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

// Clear empties the cache: grants, object-level results and what rules see
// of users and projects. It keeps the set of logged decisions.
func (c *RequestCache) Clear() {
	c.mu.Lock()
	c.generation++
	c.users = map[int64]*userGrants{}
	c.objects = nil
	c.ruleUsers, c.ruleProjects = nil, nil
	c.mu.Unlock()
}

// currentGeneration returns the number of clears so far. A result computed
// from loads made after it is stored only if no clear happened since.
func (c *RequestCache) currentGeneration() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

// lookupObject returns the cached object-level result for k.
func (c *RequestCache) lookupObject(k objectKey) (objectResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.objects[k]
	return r, ok
}

// storeObject caches an object-level result computed since generation gen,
// unless the cache was cleared in the meantime.
func (c *RequestCache) storeObject(k objectKey, r objectResult, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.generation {
		return
	}
	if c.objects == nil {
		c.objects = map[objectKey]objectResult{}
	}
	c.objects[k] = r
}

// lookupSubject returns what the cache knows of user (ok false: nothing)
// and of projects, and the projects it does not know.
func (c *RequestCache) lookupSubject(user int64, projects []int64) (u RuleUser, ok bool, found map[int64]RuleProject, missing []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok = c.ruleUsers[user]
	found = make(map[int64]RuleProject, len(projects))
	for _, p := range projects {
		if rp, hit := c.ruleProjects[p]; hit {
			found[p] = rp
		} else {
			missing = append(missing, p)
		}
	}
	return u, ok, found, missing
}

// storeSubject caches what rules see of a user and of projects, loaded
// since generation gen, unless the cache was cleared in the meantime.
func (c *RequestCache) storeSubject(u RuleUser, projects map[int64]RuleProject, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.generation {
		return
	}
	if c.ruleUsers == nil {
		c.ruleUsers = map[int64]RuleUser{}
	}
	c.ruleUsers[u.ID] = u
	if len(projects) > 0 && c.ruleProjects == nil {
		c.ruleProjects = make(map[int64]RuleProject, len(projects))
	}
	for id, p := range projects {
		c.ruleProjects[id] = p
	}
}

// markLogged records that the decision k is being enqueued with log l,
// and reports false, with the log enqueued then, when the request
// enqueued it already.
func (c *RequestCache) markLogged(k logKey, l DecisionLog) (DecisionLog, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.logged[k]; ok {
		return first, false
	}
	if c.logged == nil {
		c.logged = map[logKey]DecisionLog{}
	}
	c.logged[k] = l
	return l, true
}

// unmarkLogged forgets k, after enqueuing it failed, so that a later
// check may try again.
func (c *RequestCache) unmarkLogged(k logKey) {
	c.mu.Lock()
	delete(c.logged, k)
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
	merged := &userGrants{found: fresh.found, isActive: fresh.isActive, isSuperuser: fresh.isSuperuser, username: fresh.username,
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
	ug := &userGrants{found: g.UserFound, isActive: g.IsActive, isSuperuser: g.IsSuperuser, username: g.Username,
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

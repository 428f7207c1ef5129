package authz

import (
	"context"
	"sort"
	"sync"
	"time"
)

// registryReloadInterval bounds how often a lookup miss reloads the registry
// from the store: often enough that a permission defined on another
// instance is seen within a second, rarely enough that a stream of typos
// cannot turn into a stream of queries.
const registryReloadInterval = time.Second

// Registry is the in-memory copy of the permission registry. It loads on
// first use, reloads after DefinePermission, and reloads (at most once per
// registryReloadInterval) when asked for a name it does not know.
type Registry struct {
	store GrantStore

	mu       sync.RWMutex
	loaded   bool
	loadedAt time.Time
	byKey    map[string]Permission
	all      []Permission // sorted by key
}

// NewRegistry returns a registry that loads from store.
func NewRegistry(store GrantStore) *Registry {
	return &Registry{store: store}
}

// Refresh reloads the registry from the store.
func (r *Registry) Refresh(ctx context.Context) error {
	perms, err := r.store.Permissions(ctx)
	if err != nil {
		return err
	}
	byKey := make(map[string]Permission, len(perms))
	for _, p := range perms {
		byKey[p.Key()] = p
	}
	all := append([]Permission(nil), perms...)
	sort.Slice(all, func(i, j int) bool { return all[i].Key() < all[j].Key() })
	r.mu.Lock()
	r.byKey, r.all, r.loaded, r.loadedAt = byKey, all, true, time.Now()
	r.mu.Unlock()
	return nil
}

func (r *Registry) ensureLoaded(ctx context.Context) error {
	r.mu.RLock()
	loaded := r.loaded
	r.mu.RUnlock()
	if loaded {
		return nil
	}
	return r.Refresh(ctx)
}

// Lookup parses name and returns its registry entry: a *PermissionError
// wrapping ErrMalformedPermission or ErrUnknownPermission when there is none.
func (r *Registry) Lookup(ctx context.Context, name string) (Permission, error) {
	if _, _, err := ParsePerm(name); err != nil {
		return Permission{}, err
	}
	if err := r.ensureLoaded(ctx); err != nil {
		return Permission{}, err
	}
	r.mu.RLock()
	p, ok := r.byKey[name]
	stale := time.Since(r.loadedAt) >= registryReloadInterval
	r.mu.RUnlock()
	if ok {
		return p, nil
	}
	if stale {
		if err := r.Refresh(ctx); err != nil {
			return Permission{}, err
		}
		r.mu.RLock()
		p, ok = r.byKey[name]
		r.mu.RUnlock()
		if ok {
			return p, nil
		}
	}
	return Permission{}, &PermissionError{Name: name, Err: ErrUnknownPermission}
}

// All returns every permission, sorted by key.
func (r *Registry) All(ctx context.Context) ([]Permission, error) {
	if err := r.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.all, nil
}

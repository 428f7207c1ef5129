package authz

import "context"

// Prefetch loads into the request cache, in one statement, user's grants in
// every listed project the cache does not hold yet, so that the checks a
// list of N objects over M projects makes afterwards cost nothing. Without
// a request cache in ctx, or for an anonymous user, it does nothing.
// Projects that do not exist are remembered as such, not reported.
func (e *Engine) Prefetch(ctx context.Context, user int64, projects []int64) error {
	if user == Anonymous || RequestCacheFrom(ctx) == nil || len(projects) == 0 {
		return nil
	}
	seen := make(map[int64]bool, len(projects))
	uniq := make([]int64, 0, len(projects))
	for _, p := range projects {
		if p > 0 && !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	_, err := e.grants(ctx, user, uniq)
	return err
}

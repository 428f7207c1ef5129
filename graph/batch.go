package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/graph/model"
)

// The loads of this file batch a field over the nearest enclosing list,
// as gqlauthz.PrefetchSiblings batches permissions: the first element of
// the list to resolve the field loads the data of every element with one
// statement, and the others wait for its answer and take their part. No
// element waits for a time window; an element that comes after the load
// takes its part at once.

// batchKey names the load of one field over one list of one request: the
// list's field, the path from its elements to the objects whose field is
// resolved, and the field with its arguments.
type batchKey struct {
	list  weak.Pointer[graphql.FieldContext]
	path  string
	field string
}

// batchCall is a list's load, running (done open) or finished.
type batchCall struct {
	done chan struct{}
	val  any
	err  error
}

// batches holds a load per list and field while the list's field context
// lives, that is while its request runs: the entry goes when the garbage
// collector takes the field context.
var batches sync.Map // batchKey → *batchCall

// errBatchUnfinished answers the waiters of a load that panicked.
var errBatchUnfinished = errors.New("batched load did not finish")

// batchLoad returns the answer of load for the field named field over
// list, reached from its elements by path: load runs once, for the first
// caller, and every other caller waits for its answer.
func batchLoad[V any](ctx context.Context, list *graphql.FieldContext, path, field string, load func() (V, error)) (V, error) {
	key := batchKey{list: weak.Make(list), path: path, field: field}
	var zero V
	c, first := startBatch(key, list)
	if first {
		c.err = errBatchUnfinished
		func() {
			defer close(c.done)
			c.val, c.err = load()
		}()
	} else {
		select {
		case <-c.done:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
	if c.err != nil {
		return zero, c.err
	}
	return c.val.(V), nil
}

// startBatch returns the load of key, and true when the caller is the
// first to ask and must run it.
func startBatch(key batchKey, list *graphql.FieldContext) (*batchCall, bool) {
	if c, ok := batches.Load(key); ok {
		return c.(*batchCall), false
	}
	c := &batchCall{done: make(chan struct{})}
	if prev, loaded := batches.LoadOrStore(key, c); loaded {
		return prev.(*batchCall), false
	}
	runtime.AddCleanup(list, func(k batchKey) { batches.Delete(k) }, key)
	return c, true
}

// fieldName returns the name under which the current field answers (its
// alias, or its name), to tell apart two selections of one field.
func fieldName(ctx context.Context) string {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil {
		return fc.Field.Alias
	}
	return ""
}

// siblingIDs returns own and the ids id gives for the other non-nil
// objects, without repeats.
func siblingIDs[T comparable](own int64, objs []T, id func(T) int64) []int64 {
	var zero T
	seen := map[int64]bool{own: true}
	ids := []int64{own}
	for _, o := range objs {
		if o == zero {
			continue
		}
		if n := id(o); n != 0 && !seen[n] {
			seen[n] = true
			ids = append(ids, n)
		}
	}
	return ids
}

// projectPages returns up to req.First+1 pages of project after
// req.After, and a counter of its pages. When the project sits in a list,
// the pages of all the list's projects load with one statement, and so do
// their counts; only the selections of the field with the same arguments
// share a load.
func (r *Resolver) projectPages(ctx context.Context, project int64, req authz.PageRequest) ([]authz.Page, model.Counter, error) {
	list, path, objs := gqlauthz.Siblings[*model.Project](ctx)
	if list == nil {
		rows, err := r.Store.ProjectPages(ctx, project, req.After, req.First+1)
		return rows, func(ctx context.Context) (int, error) {
			return r.Store.CountProjectPages(ctx, project)
		}, err
	}
	ids := siblingIDs(project, objs, func(p *model.Project) int64 { return p.DBID })
	name := fieldName(ctx)
	pages, err := batchLoad(ctx, list, path, fmt.Sprintf("Project.pages %s %d %d", name, req.First, req.After),
		func() (map[int64][]authz.Page, error) {
			return r.Store.ProjectPagesBatch(ctx, ids, req.After, req.First+1)
		})
	if err != nil {
		return nil, nil, err
	}
	count := func(ctx context.Context) (int, error) {
		counts, err := batchLoad(ctx, list, path, "Project.pages.totalCount "+name,
			func() (map[int64]int, error) { return r.Store.CountProjectPagesBatch(ctx, ids) })
		if err != nil {
			return 0, err
		}
		return counts[project], nil
	}
	return pages[project], count, nil
}

// pageProject returns the project of page. When the page sits in a list,
// the projects of all the list's pages load with one statement.
func (r *Resolver) pageProject(ctx context.Context, page *model.Page) (*model.Project, error) {
	if list, path, objs := gqlauthz.Siblings[*model.Page](ctx); list != nil {
		ids := siblingIDs(page.ProjectID, objs, func(p *model.Page) int64 { return p.ProjectID })
		projects, err := batchLoad(ctx, list, path, "Page.project "+fieldName(ctx),
			func() (map[int64]authz.Project, error) { return r.Store.Projects(ctx, ids) })
		if err != nil {
			return nil, err
		}
		if p, ok := projects[page.ProjectID]; ok {
			return projectModel(p), nil
		}
		// Not there: Store.Project answers with the error to give.
	}
	p, err := r.Store.Project(ctx, page.ProjectID)
	if err != nil {
		return nil, err
	}
	return projectModel(p), nil
}

// pageAuthor returns the author of page, nil when it has none or the user
// is gone. When the page sits in a list, the authors of all the list's
// pages load with one statement.
func (r *Resolver) pageAuthor(ctx context.Context, page *model.Page) (*model.User, error) {
	if page.AuthorID == 0 {
		return nil, nil
	}
	list, path, objs := gqlauthz.Siblings[*model.Page](ctx)
	if list == nil {
		return r.optionalUser(ctx, page.AuthorID)
	}
	ids := siblingIDs(page.AuthorID, objs, func(p *model.Page) int64 { return p.AuthorID })
	users, err := batchLoad(ctx, list, path, "Page.author "+fieldName(ctx),
		func() (map[int64]authz.User, error) { return r.Store.UsersByID(ctx, ids) })
	if err != nil {
		return nil, err
	}
	if u, ok := users[page.AuthorID]; ok {
		return userModel(u), nil
	}
	return nil, nil
}

// siblingUser returns the user that id gives for obj, nil when it names
// none or the user is gone (the record stays). When obj sits in a list,
// the users of all the list's objects load with one statement.
func siblingUser[T comparable](ctx context.Context, r *Resolver, obj T, field string, id func(T) int64) (*model.User, error) {
	own := id(obj)
	if own == 0 {
		return nil, nil
	}
	list, path, objs := gqlauthz.Siblings[T](ctx)
	if list == nil {
		return r.optionalUser(ctx, own)
	}
	ids := siblingIDs(own, objs, id)
	users, err := batchLoad(ctx, list, path, field+" "+fieldName(ctx),
		func() (map[int64]authz.User, error) { return r.Store.UsersByID(ctx, ids) })
	if err != nil {
		return nil, err
	}
	if u, ok := users[own]; ok {
		return userModel(u), nil
	}
	return nil, nil
}

// logProject returns the project of a decision log, nil for a global
// check or a project deleted since (the log stays). When the log sits in
// a list, the projects of all the list's logs load with one statement.
func (r *Resolver) logProject(ctx context.Context, l *model.DecisionLog) (*model.Project, error) {
	if l.ProjectID == 0 {
		return nil, nil
	}
	if list, path, objs := gqlauthz.Siblings[*model.DecisionLog](ctx); list != nil {
		ids := siblingIDs(l.ProjectID, objs, func(o *model.DecisionLog) int64 { return o.ProjectID })
		projects, err := batchLoad(ctx, list, path, "DecisionLog.project "+fieldName(ctx),
			func() (map[int64]authz.Project, error) { return r.Store.Projects(ctx, ids) })
		if err != nil {
			return nil, err
		}
		if p, ok := projects[l.ProjectID]; ok {
			return projectModel(p), nil
		}
		return nil, nil
	}
	p, err := r.Store.Project(ctx, l.ProjectID)
	if errors.Is(err, authz.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return projectModel(p), nil
}

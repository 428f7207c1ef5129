package gqlauthz

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
)

// PrefetchSiblings loads into the request cache viewer's grants in the
// projects SiblingProjects(ctx, own) names, once per list. gqlgen resolves
// the elements of a list concurrently, so they all get here at about the
// same time, before any load has filled the cache: the first element of a
// list loads and the others wait for its answer, so that the list costs
// one statement (none when the cache holds them already), and every
// element but the first almost nothing.
func PrefetchSiblings(ctx context.Context, engine *authz.Engine, viewer, own int64) error {
	if viewer == authz.Anonymous || authz.RequestCacheFrom(ctx) == nil {
		return nil // Engine.Prefetch would do nothing either
	}
	var buf [8]string
	list, path := enclosingList(graphql.GetFieldContext(ctx), buf[:0])
	if list == nil {
		return nil
	}
	return prefetchOnce(ctx, listKey{list: weak.Make(list), path: pathKey(path), viewer: viewer}, list, func() []int64 {
		return append([]int64{own}, projectsAlong(list.Result, path)...)
	}, func(projects []int64) error { return engine.Prefetch(ctx, viewer, projects) })
}

// listKey names the prefetch of one list of one request: the list's
// field, the path from its elements to the objects whose projects count,
// and the viewer.
type listKey struct {
	list   weak.Pointer[graphql.FieldContext]
	path   string
	viewer int64
}

// prefetch is a list's prefetch, running (done open) or finished.
type prefetch struct {
	done chan struct{}
	err  error
}

// prefetches holds a prefetch per list while the list's field context
// lives, that is while its request runs: the entry goes when the garbage
// collector takes the field context.
var prefetches sync.Map // listKey → *prefetch

// startPrefetch returns the prefetch of key, and true when the caller is
// the first to ask and must run it.
func startPrefetch(key listKey, list *graphql.FieldContext) (*prefetch, bool) {
	if f, ok := prefetches.Load(key); ok {
		return f.(*prefetch), false
	}
	f := &prefetch{done: make(chan struct{})}
	if prev, loaded := prefetches.LoadOrStore(key, f); loaded {
		return prev.(*prefetch), false
	}
	runtime.AddCleanup(list, func(k listKey) { prefetches.Delete(k) }, key)
	return f, true
}

// prefetchOnce runs the prefetch of key once for all the fields of list
// that ask: the first caller loads the projects it finds, the others wait
// for it (or for their own ctx) and share its error.
func prefetchOnce(ctx context.Context, key listKey, list *graphql.FieldContext, projects func() []int64, load func([]int64) error) error {
	f, first := startPrefetch(key, list)
	if !first {
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(f.done)
	f.err = load(projects())
	return f.err
}

func pathKey(path []string) string {
	if len(path) == 1 {
		return path[0]
	}
	return strings.Join(path, ".")
}

// SiblingProjects returns own and the projects of every object that stands
// where the current field's parent stands, in the nearest enclosing list:
// for Page.title under pages.edges[3].node, the projects of the nodes of
// all the edges. Guards and resolvers load them with PrefetchSiblings so
// that a list costs one statement. It returns just own when the field is
// not under a list or the path cannot be followed.
func SiblingProjects(ctx context.Context, own int64) []int64 {
	list, path := enclosingList(graphql.GetFieldContext(ctx), nil)
	if list == nil {
		return []int64{own}
	}
	return append([]int64{own}, projectsAlong(list.Result, path)...)
}

// Siblings returns the nearest list that encloses the current field's
// parent object, a key naming the way from the list's elements down to
// that object, and the objects of type T that stand there in every
// element: for Project.pages under projects.edges[3].node, the nodes of
// all the edges. Resolvers use them to load the data of a whole list with
// one statement. list is nil when the field is not under a list.
func Siblings[T any](ctx context.Context) (list *graphql.FieldContext, path string, objs []T) {
	var buf [8]string
	list, names := enclosingList(graphql.GetFieldContext(ctx), buf[:0])
	if list == nil {
		return nil, "", nil
	}
	walkAlong(list.Result, names, func(v any) {
		if o, ok := v.(T); ok {
			objs = append(objs, o)
		}
	})
	return list, pathKey(names), objs
}

// enclosingList walks up from the field that produced fc's parent object
// to the nearest list element, and returns the list's field and the field
// names on the way, innermost first, appended to path; nil when there is
// no list.
func enclosingList(fc *graphql.FieldContext, path []string) (*graphql.FieldContext, []string) {
	if fc == nil {
		return nil, nil
	}
	for it := fc.Parent; it != nil; it = it.Parent {
		if it.Index != nil {
			return it.Parent, path
		}
		if it.Field.Field != nil {
			path = append(path, it.Field.Name)
		}
	}
	return nil, nil
}

// projectsAlong follows path (innermost name first) down from every
// element of list and collects the projects of the objects it reaches.
func projectsAlong(list any, path []string) []int64 {
	var out []int64
	walkAlong(list, path, func(v any) {
		if p, ok := v.(InProject); ok && !isNil(p) {
			out = append(out, p.InProject())
		}
	})
	return out
}

// walkAlong follows path (innermost name first) down from every element
// of list and calls f with each object it reaches.
func walkAlong(list any, path []string, f func(any)) {
	lv := indirect(reflect.ValueOf(list))
	if lv.Kind() != reflect.Slice {
		return
	}
	for i := 0; i < lv.Len(); i++ {
		v := lv.Index(i)
		for j := len(path) - 1; j >= 0 && v.IsValid(); j-- {
			v = fieldByJSONName(indirect(v), path[j])
		}
		if v.IsValid() && v.CanInterface() {
			f(v.Interface())
		}
	}
}

func indirect(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// fieldByJSONName returns the struct field that gqlgen binds to the
// GraphQL field name: its json tag, as in gqlgen's generated models.
func fieldByJSONName(v reflect.Value, name string) reflect.Value {
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	if i := fieldIndex(v.Type(), name); i >= 0 {
		return v.Field(i)
	}
	return reflect.Value{}
}

// fieldIndexes remembers fieldIndex's answers: a guarded list asks the
// same question for every field of every element, and reading struct tags
// allocates. It holds at most one entry per field of the schema.
var fieldIndexes sync.Map // fieldKey → int

type fieldKey struct {
	t    reflect.Type
	name string
}

// fieldIndex returns the index of the field of struct type t that binds
// name, or -1.
func fieldIndex(t reflect.Type, name string) int {
	key := fieldKey{t, name}
	if i, ok := fieldIndexes.Load(key); ok {
		return i.(int)
	}
	i := -1
	for j := 0; j < t.NumField(); j++ {
		tag, _, _ := strings.Cut(t.Field(j).Tag.Get("json"), ",")
		if tag == name || (tag == "" && strings.EqualFold(t.Field(j).Name, name)) {
			i = j
			break
		}
	}
	fieldIndexes.Store(key, i)
	return i
}

// PrefetchFieldSiblings is PrefetchSiblings for a field that returns
// objects in projects (a Project, a Page, or a list of them), before the
// objects' own fields run: it loads viewer's grants in own and in the
// projects that projectsOf gives for every parent that stands where the
// current field's parent stands in the nearest enclosing list, once per
// list. projectsOf returns the projects of what the field returns, or
// will return, for one parent.
func PrefetchFieldSiblings(ctx context.Context, engine *authz.Engine, viewer int64, own []int64, projectsOf func(parent any) []int64) error {
	if viewer == authz.Anonymous || authz.RequestCacheFrom(ctx) == nil {
		return nil
	}
	fc := graphql.GetFieldContext(ctx)
	var buf [8]string
	list, path := enclosingList(fc, buf[:0])
	if list == nil {
		return engine.Prefetch(ctx, viewer, own)
	}
	key := listKey{list: weak.Make(list), path: "field " + pathKey(path) + " " + fc.Field.Alias, viewer: viewer}
	return prefetchOnce(ctx, key, list, func() []int64 {
		projects := own
		walkAlong(list.Result, path, func(parent any) { projects = append(projects, projectsOf(parent)...) })
		return projects
	}, func(projects []int64) error { return engine.Prefetch(ctx, viewer, projects) })
}

// FieldValue returns the value of the struct field of obj (a struct or a
// pointer to one) that gqlgen binds to the GraphQL field name, and false
// when obj has no such struct field (a field with a resolver, say).
func FieldValue(obj any, name string) (any, bool) {
	v := fieldByJSONName(indirect(reflect.ValueOf(obj)), name)
	if !v.IsValid() || !v.CanInterface() {
		return nil, false
	}
	return v.Interface(), true
}

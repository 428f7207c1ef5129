package gqlauthz

import (
	"context"
	"reflect"
	"strings"

	"github.com/99designs/gqlgen/graphql"
)

// SiblingProjects returns own and the projects of every object that stands
// where the current field's parent stands, in the nearest enclosing list:
// for Page.title under pages.edges[3].node, the projects of the nodes of
// all the edges. Guards and resolvers pass them to Engine.Prefetch so that
// a list costs one statement. It returns just own when the field is not
// under a list or the path cannot be followed.
func SiblingProjects(ctx context.Context, own int64) []int64 {
	out := []int64{own}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return out
	}
	// Walk up from the field that produced the parent object to the
	// nearest list element, noting the field names on the way.
	var path []string
	for it := fc.Parent; it != nil; it = it.Parent {
		if it.Index != nil {
			list := it.Parent
			if list == nil {
				return out
			}
			return append(out, projectsAlong(list.Result, path)...)
		}
		if it.Field.Field != nil {
			path = append(path, it.Field.Name)
		}
	}
	return out
}

// projectsAlong follows path (innermost name first) down from every
// element of list and collects the projects of the objects it reaches.
func projectsAlong(list any, path []string) []int64 {
	lv := indirect(reflect.ValueOf(list))
	if lv.Kind() != reflect.Slice {
		return nil
	}
	var out []int64
	for i := 0; i < lv.Len(); i++ {
		v := lv.Index(i)
		for j := len(path) - 1; j >= 0 && v.IsValid(); j-- {
			v = fieldByJSONName(indirect(v), path[j])
		}
		if !v.IsValid() || !v.CanInterface() {
			continue
		}
		if p, ok := v.Interface().(InProject); ok && !isNil(p) {
			out = append(out, p.InProject())
		}
	}
	return out
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
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag == name || (tag == "" && strings.EqualFold(t.Field(i).Name, name)) {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

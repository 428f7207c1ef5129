package gqlauthz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// InProject is implemented by objects that belong to a project (and by a
// project itself): a field guarded without a project argument takes the
// project of its parent object from it.
type InProject interface {
	InProject() int64
}

// ViewerFunc returns the signed-in user of a request, and false for an
// anonymous one.
type ViewerFunc func(ctx context.Context) (user int64, ok bool)

// FieldProjectFunc finds the project of a field whose project is neither an
// argument nor its parent, from the field's arguments (as sent, with
// variables resolved: input objects are maps).
type FieldProjectFunc func(ctx context.Context, args map[string]any) (project int64, err error)

// Guard implements the @hasProjectPerm directive over an engine.
type Guard struct {
	engine        *authz.Engine
	viewer        ViewerFunc
	projectTypes  map[string]bool
	fieldProjects map[fieldName]FieldProjectFunc
}

// fieldName is "Type.field", kept in two parts so that a guarded field
// looks itself up without building a string.
type fieldName struct{ object, field string }

// logSources holds the "Type.field" of every guarded field seen, so that
// the fields of a long list do not each build the string again.
var logSources sync.Map // fieldName → string

func logSource(object, field string) string {
	if s, ok := logSources.Load(fieldName{object, field}); ok {
		return s.(string)
	}
	s := object + "." + field
	logSources.Store(fieldName{object, field}, s)
	return s
}

func parseFieldName(s string) fieldName {
	object, field, _ := strings.Cut(s, ".")
	return fieldName{object, field}
}

// Option configures a Guard.
type Option func(*Guard)

// WithProjectTypes names the GraphQL object types whose Go values implement
// InProject, so that Validate accepts fields guarded without a project
// argument on them.
func WithProjectTypes(names ...string) Option {
	return func(g *Guard) {
		for _, n := range names {
			g.projectTypes[n] = true
		}
	}
}

// WithFieldProject registers how to find the project of the field
// "Type.field" (a mutation that names an object by id, say) when the
// directive on it has no project argument.
func WithFieldProject(field string, f FieldProjectFunc) Option {
	return func(g *Guard) { g.fieldProjects[parseFieldName(field)] = f }
}

// New returns a guard that decides with engine for the viewer that viewer
// returns.
func New(engine *authz.Engine, viewer ViewerFunc, opts ...Option) *Guard {
	g := &Guard{engine: engine, viewer: viewer, projectTypes: map[string]bool{}, fieldProjects: map[fieldName]FieldProjectFunc{}}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Error codes the directive puts in extensions.code.
const (
	CodeForbidden       = "FORBIDDEN"
	CodeUnauthenticated = "UNAUTHENTICATED"
)

// HasProjectPerm is the directive's implementation, to be set as
// DirectiveRoot.HasProjectPerm in the generated Config.
func (g *Guard) HasProjectPerm(ctx context.Context, obj any, next graphql.Resolver, perm string, project *string) (any, error) {
	viewer, ok := g.viewer(ctx)
	if !ok {
		return nil, &gqlerror.Error{
			Message:    fmt.Sprintf("sign in to use this field (it needs %s)", perm),
			Extensions: map[string]any{"code": CodeUnauthenticated},
			Err:        authz.Unauthenticated("use this field"),
		}
	}
	pid, err := g.project(ctx, obj, project)
	if err != nil {
		return nil, err
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && g.engine.Verbosity() > 0 {
		ctx = authz.WithLogSource(ctx, logSource(fc.Object, fc.Field.Name))
	}
	if project == nil {
		// The project comes from the parent: load the projects of the
		// parent's siblings too, so the whole list costs one statement.
		if err := PrefetchSiblings(ctx, g.engine, viewer, pid); err != nil {
			return nil, err
		}
	}
	d, err := g.engine.HasProjectPerm(ctx, viewer, perm, pid)
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		denied := &authz.DeniedError{Perm: perm, Project: pid, Reason: d.Reason}
		return nil, &gqlerror.Error{
			Message: denied.Error(),
			Extensions: map[string]any{"code": CodeForbidden, "permission": perm,
				"project": strconv.FormatInt(pid, 10)},
			Err: denied,
		}
	}
	return next(ctx)
}

// project finds the project a guarded field is about.
func (g *Guard) project(ctx context.Context, obj any, path *string) (int64, error) {
	fc := graphql.GetFieldContext(ctx)
	if path != nil {
		args := rawArgs(ctx, fc)
		v, err := lookupPath(args, *path)
		if err != nil {
			return 0, err
		}
		return ParseID(*path, v)
	}
	if fc != nil {
		if f, ok := g.fieldProjects[fieldName{fc.Object, fc.Field.Name}]; ok {
			return f(ctx, rawArgs(ctx, fc))
		}
	}
	if p, ok := obj.(InProject); ok && !isNil(obj) {
		return p.InProject(), nil
	}
	name := "the field"
	if fc != nil {
		name = fc.Object + "." + fc.Field.Name
	}
	return 0, fmt.Errorf("@hasProjectPerm on %s: the parent %T does not belong to a project", name, obj)
}

// rawArgs returns the field's arguments as sent, with variables resolved.
func rawArgs(ctx context.Context, fc *graphql.FieldContext) map[string]any {
	if fc == nil || fc.Field.Field == nil {
		return nil
	}
	var vars map[string]any
	if graphql.HasOperationContext(ctx) {
		vars = graphql.GetOperationContext(ctx).Variables
	}
	return fc.Field.ArgumentMap(vars)
}

// lookupPath follows a dotted path (input.project) through arguments.
func lookupPath(args map[string]any, path string) (any, error) {
	var cur any = args
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, authz.InvalidInput("%s: %q is not an input object", path, seg)
		}
		if cur, ok = m[seg]; !ok || cur == nil {
			return nil, authz.InvalidInput("%s: a project id is required", path)
		}
	}
	return cur, nil
}

// ParseID reads an id argument in the shapes it arrives in: an ID or
// String (a string), an Int literal (int64) or a variable (json.Number or
// float64). Anything but a positive integer is an authz.ErrInvalidInput
// that names path.
func ParseID(path string, v any) (int64, error) {
	var (
		id  int64
		err error
	)
	switch x := v.(type) {
	case string:
		id, err = strconv.ParseInt(x, 10, 64)
	case int64:
		id = x
	case int:
		id = int64(x)
	case json.Number:
		id, err = x.Int64()
	case float64:
		// float64(math.MaxInt64) rounds up to 2^63, which does not fit an
		// int64: converting it is implementation-defined (a negative id on
		// amd64, math.MaxInt64 on arm64), so it is refused here.
		if x != math.Trunc(x) || x >= math.MaxInt64 {
			err = errors.New("not an integer")
		}
		id = int64(x)
	default:
		err = fmt.Errorf("unexpected %T", v)
	}
	if err != nil || id <= 0 {
		return 0, authz.InvalidInput("%s: %q is not a valid id (want a positive integer)", path, fmt.Sprint(v))
	}
	return id, nil
}

func isNil(v any) bool {
	rv := reflect.ValueOf(v)
	return !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil())
}

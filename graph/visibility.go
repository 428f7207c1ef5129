package graph

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/graph/model"
	"github.com/grantql/grantql/models"
	"github.com/vektah/gqlparser/v2/ast"
)

// visibility guards every path to an object like its front door: each
// field whose type is a guarded object type (or a list of one, or an
// interface or union one of whose types is guarded), nested or at the
// root, has what it returns checked against that type's rule (authz's
// RequireView*, the rule of project(id), user(id), group(id), page(id),
// decisionLog(id), and of grantEvents, apiTokens, rules and
// projectGrants), and a denied field is null with the rule's error. It is
// one field middleware, so a field added to the schema is guarded without
// a line of code. Which fields it checks is decided once, per field
// definition, when the server starts: a field of any other type costs one
// map look-up. The fields of Mutation are left to the mutation's own
// authorization (what a mutation returns is what it wrote); the fields of
// the objects it returns are guarded as any.
type visibility struct {
	engine *authz.Engine
	store  *models.Store
	// fields maps each guarded field to the source its checks' decision
	// logs record ("PageEdge.node"); a field absent from it is not checked.
	fields map[*ast.FieldDefinition]string
}

// guardedTypes are the object types with a visibility rule.
var guardedTypes = map[string]bool{"Project": true, "Page": true, "User": true, "Group": true, "DecisionLog": true,
	"GrantEvent": true, "ApiToken": true, "Rule": true, "ProjectGrant": true}

// openTypes are the object types that need no rule of their own: the
// permission registry, which is public; what answers the viewer's own
// question (a decision, a new token's secret, shown once to its maker);
// and the connections, edges and pages of lists, whose objects are
// guarded where they appear. An object type in neither map stops the
// server's start, so that a type added without a rule fails closed.
var openTypes = map[string]bool{"Permission": true, "Decision": true, "LogEntry": true, "NewApiToken": true, "PageInfo": true,
	"ProjectConnection": true, "ProjectEdge": true, "PageConnection": true, "PageEdge": true,
	"UserConnection": true, "UserEdge": true, "GroupConnection": true, "GroupEdge": true,
	"UserPermissionConnection": true, "UserPermissionEdge": true,
	"DecisionLogConnection": true, "DecisionLogEdge": true, "GrantEventConnection": true, "GrantEventEdge": true}

// newVisibility decides which fields of schema to guard. It refuses a
// schema with an object type that is neither guarded nor open.
func newVisibility(engine *authz.Engine, store *models.Store, schema *ast.Schema) (*visibility, error) {
	v := &visibility{engine: engine, store: store, fields: map[*ast.FieldDefinition]string{}}
	var unruled []string
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") || isRoot(schema, def) {
			continue
		}
		if !guardedTypes[def.Name] && !openTypes[def.Name] {
			unruled = append(unruled, def.Name)
		}
	}
	if len(unruled) > 0 {
		slices.Sort(unruled)
		return nil, fmt.Errorf("object types without a visibility rule: %s (add each to guardedTypes with its rule, or to openTypes)",
			strings.Join(unruled, ", "))
	}
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") || def == schema.Mutation || def == schema.Subscription {
			continue
		}
		for _, f := range def.Fields {
			if guarded(schema, schema.Types[f.Type.Name()]) {
				v.fields[f] = def.Name + "." + f.Name
			}
		}
	}
	return v, nil
}

func isRoot(schema *ast.Schema, def *ast.Definition) bool {
	return def == schema.Query || def == schema.Mutation || def == schema.Subscription
}

// guarded reports whether a field of type def returns objects a rule
// guards: def is a guarded object type, or an interface or union that
// one is a possible type of.
func guarded(schema *ast.Schema, def *ast.Definition) bool {
	if def == nil {
		return false
	}
	switch def.Kind {
	case ast.Object:
		return guardedTypes[def.Name]
	case ast.Interface, ast.Union:
		return slices.ContainsFunc(schema.GetPossibleTypes(def), func(t *ast.Definition) bool { return guardedTypes[t.Name] })
	}
	return false
}

// aroundFields is the field middleware.
func (v *visibility) aroundFields(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return next(ctx)
	}
	source, ok := v.fields[fc.Field.Definition]
	if !ok {
		return next(ctx)
	}
	res, err := next(ctx)
	if err != nil || res == nil {
		return res, err
	}
	if v.engine.Verbosity() > 0 {
		// The rule's checks are this field's: their logs say so.
		ctx = authz.WithLogSource(ctx, source)
	}
	if err := v.check(ctx, fc, res); err != nil {
		return nil, err
	}
	return res, nil
}

// check applies the rule of res's type to every object of res.
func (v *visibility) check(ctx context.Context, fc *graphql.FieldContext, res any) error {
	viewer := viewerID(ctx)
	e := v.engine
	switch o := res.(type) {
	case *model.Project:
		return inProjects(ctx, e, fc, viewer, []*model.Project{o}, e.RequireViewProject)
	case []*model.Project:
		return inProjects(ctx, e, fc, viewer, o, e.RequireViewProject)
	case *model.Page:
		return inProjects(ctx, e, fc, viewer, []*model.Page{o}, e.RequireViewPage)
	case []*model.Page:
		return inProjects(ctx, e, fc, viewer, o, e.RequireViewPage)
	case *model.User:
		return each([]*model.User{o}, func(u *model.User) error { return e.RequireViewUser(ctx, viewer, u.DBID, u.HolderIn) })
	case []*model.User:
		return each(o, func(u *model.User) error { return e.RequireViewUser(ctx, viewer, u.DBID, u.HolderIn) })
	case *model.Group:
		return v.groups(ctx, viewer, []*model.Group{o})
	case []*model.Group:
		return v.groups(ctx, viewer, o)
	case *model.DecisionLog:
		return each([]*model.DecisionLog{o}, func(l *model.DecisionLog) error { return e.RequireViewDecisionLog(ctx, viewer, l.UserID) })
	case []*model.DecisionLog:
		return each(o, func(l *model.DecisionLog) error { return e.RequireViewDecisionLog(ctx, viewer, l.UserID) })
	case *model.GrantEvent:
		return each([]*model.GrantEvent{o}, func(*model.GrantEvent) error { return e.RequireViewGrantEvents(ctx, viewer) })
	case []*model.GrantEvent:
		return each(o, func(*model.GrantEvent) error { return e.RequireViewGrantEvents(ctx, viewer) })
	case *model.APIToken:
		return each([]*model.APIToken{o}, func(t *model.APIToken) error { return e.RequireViewTokens(ctx, viewer, t.UserID) })
	case []*model.APIToken:
		return each(o, func(t *model.APIToken) error { return e.RequireViewTokens(ctx, viewer, t.UserID) })
	case *model.Rule:
		return each([]*model.Rule{o}, func(*model.Rule) error { return e.RequireViewRules(ctx, viewer) })
	case []*model.Rule:
		return each(o, func(*model.Rule) error { return e.RequireViewRules(ctx, viewer) })
	case *model.ProjectGrant:
		return each([]*model.ProjectGrant{o}, func(g *model.ProjectGrant) error { return v.grant(ctx, fc, viewer, g) })
	case []*model.ProjectGrant:
		return each(o, func(g *model.ProjectGrant) error { return v.grant(ctx, fc, viewer, g) })
	}
	// A list of lists: each inner list under the same rule.
	if rv := reflect.ValueOf(res); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Slice {
		for i := range rv.Len() {
			if inner := rv.Index(i); !inner.IsNil() {
				if err := v.check(ctx, fc, inner.Interface()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// A guarded type bound to a Go type this switch lacks, or an
	// interface's type without a rule: fail closed.
	return fmt.Errorf("%s.%s returned %T, which has no visibility rule", fc.Object, fc.Field.Name, res)
}

// grant applies projectGrants' rule to a grant, in the grant's project.
func (v *visibility) grant(ctx context.Context, fc *graphql.FieldContext, viewer int64, g *model.ProjectGrant) error {
	if g.Project == nil {
		// No project to apply the rule in: fail closed.
		return fmt.Errorf("%s.%s returned a grant without its project", fc.Object, fc.Field.Name)
	}
	return v.engine.RequireViewMembers(ctx, viewer, g.Project.DBID)
}

// each applies rule to every non-nil object, stopping at the first denial.
func each[T comparable](objs []T, rule func(T) error) error {
	var zero T
	for _, o := range objs {
		if o == zero {
			continue
		}
		if err := rule(o); err != nil {
			return err
		}
	}
	return nil
}

// inProjects applies rule to the project of every object, after loading
// the viewer's grants in the projects of the objects the field returns
// across its enclosing list, so that a list costs one statement.
func inProjects[T interface {
	comparable
	gqlauthz.InProject
}](ctx context.Context, e *authz.Engine, fc *graphql.FieldContext, viewer int64, objs []T, rule func(ctx context.Context, viewer, project int64) error) error {
	own := make([]int64, 0, len(objs))
	var zero T
	for _, o := range objs {
		if o != zero {
			own = append(own, o.InProject())
		}
	}
	if err := gqlauthz.PrefetchFieldSiblings(ctx, e, viewer, own, projectsOf(fc)); err != nil {
		return err
	}
	return each(objs, func(o T) error { return rule(ctx, viewer, o.InProject()) })
}

// projectsOf returns, for the field of fc, the projects of what the field
// returns for one parent: read from the parent's struct field, or, for a
// field with a resolver, from the id the parent holds.
func projectsOf(fc *graphql.FieldContext) func(parent any) []int64 {
	switch fc.Object + "." + fc.Field.Name {
	case "DecisionLog.project":
		return func(parent any) []int64 {
			if l, ok := parent.(*model.DecisionLog); ok && l.ProjectID != 0 {
				return []int64{l.ProjectID}
			}
			return nil
		}
	case "Page.project":
		return func(parent any) []int64 {
			if p, ok := parent.(*model.Page); ok {
				return []int64{p.ProjectID}
			}
			return nil
		}
	}
	name := fc.Field.Name
	return func(parent any) []int64 {
		val, ok := gqlauthz.FieldValue(parent, name)
		if !ok {
			return nil
		}
		switch val := val.(type) {
		case gqlauthz.InProject:
			if p, ok := val.(*model.Project); ok && p == nil {
				return nil
			}
			if p, ok := val.(*model.Page); ok && p == nil {
				return nil
			}
			return []int64{val.InProject()}
		case []*model.Project:
			return projectIDs(val)
		case []*model.Page:
			return projectIDs(val)
		}
		return nil
	}
}

func projectIDs[T interface {
	comparable
	gqlauthz.InProject
}](objs []T) []int64 {
	var zero T
	out := make([]int64, 0, len(objs))
	for _, o := range objs {
		if o != zero {
			out = append(out, o.InProject())
		}
	}
	return out
}

// groups applies the group rule to every group. Whether the viewer
// belongs to a group is read, at most once a request, only when nothing
// else allows.
func (v *visibility) groups(ctx context.Context, viewer int64, groups []*model.Group) error {
	return each(groups, func(g *model.Group) error {
		return v.engine.RequireViewGroup(ctx, viewer, authz.GroupReach{HolderIn: g.HolderIn, MemberOf: g.MemberOf},
			func() (bool, error) { return v.isMember(ctx, viewer, g.DBID) })
	})
}

// isMember reports whether viewer belongs to group, from the request's
// memo of the viewer's groups.
func (v *visibility) isMember(ctx context.Context, viewer, group int64) (bool, error) {
	m, _ := ctx.Value(memberMemoKey{}).(*memberMemo)
	if m == nil {
		m = &memberMemo{}
	}
	m.once.Do(func() {
		var groups map[int64][]authz.Group
		groups, m.err = v.store.UserGroups(ctx, []int64{viewer})
		for _, g := range groups[viewer] {
			m.ids = append(m.ids, g.ID)
		}
	})
	return slices.Contains(m.ids, group), m.err
}

type memberMemoKey struct{}

// memberMemo holds the viewer's groups for one operation.
type memberMemo struct {
	once sync.Once
	ids  []int64
	err  error
}

// withMemberMemo returns ctx with an empty memo of the viewer's groups.
func withMemberMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memberMemoKey{}, &memberMemo{})
}

// listHolders marks the users and groups of a project's grants as listed
// among its holders, for their visibility rules.
func listHolders(grants []*model.ProjectGrant, project int64) {
	for _, g := range grants {
		for _, u := range g.Users {
			u.HolderIn = project
		}
		for _, gr := range g.Groups {
			gr.HolderIn = project
		}
	}
}

// requireViewGroup applies group(id)'s rule: auth.view_group, or the
// viewer belongs to the group. It does not say whether the group exists.
func (r *Resolver) requireViewGroup(ctx context.Context, group int64) error {
	viewer := viewerID(ctx)
	return r.Engine.RequireViewGroup(ctx, viewer, authz.GroupReach{}, func() (bool, error) {
		groups, err := r.Store.UserGroups(ctx, []int64{viewer})
		return slices.ContainsFunc(groups[viewer], func(g authz.Group) bool { return g.ID == group }), err
	})
}

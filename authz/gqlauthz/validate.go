package gqlauthz

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// DirectiveName is the directive's name in the schema.
const DirectiveName = "hasProjectPerm"

// Validate checks every use of @hasProjectPerm in schema: the permission
// exists in the registry; the project can be found (the argument path
// leads through input objects to an ID, String or Int, or the parent type
// belongs to a project, or the field has a FieldProjectFunc); the field is
// nullable, so that a denial does not wipe out its parent. It returns every
// problem at once, each naming the type and field.
func (g *Guard) Validate(ctx context.Context, schema *ast.Schema) error {
	var problems []string
	names := make([]string, 0, len(schema.Types))
	for n := range schema.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, tn := range names {
		def := schema.Types[tn]
		if def.Kind != ast.Object && def.Kind != ast.Interface {
			continue
		}
		for _, f := range def.Fields {
			for _, d := range f.Directives.ForNames(DirectiveName) {
				for _, p := range g.validateUse(ctx, schema, def, f, d) {
					problems = append(problems, fmt.Sprintf("%s.%s: @%s: %s", def.Name, f.Name, DirectiveName, p))
				}
			}
		}
	}
	if len(problems) > 0 {
		return errors.New("invalid schema:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

func (g *Guard) validateUse(ctx context.Context, schema *ast.Schema, def *ast.Definition, f *ast.FieldDefinition, d *ast.Directive) []string {
	var problems []string
	perm := d.Arguments.ForName("perm")
	if perm == nil || perm.Value == nil || perm.Value.Kind != ast.StringValue {
		problems = append(problems, "perm must be a string literal")
	} else if _, err := g.engine.Registry().Lookup(ctx, perm.Value.Raw); err != nil {
		problems = append(problems, err.Error())
	}
	if f.Type.NonNull {
		problems = append(problems, fmt.Sprintf("the field's type %s must be nullable, so that a denial does not wipe out its parent", f.Type.String()))
	}
	project := d.Arguments.ForName("project")
	switch {
	case project != nil && project.Value != nil && project.Value.Kind == ast.StringValue:
		if p := validatePath(schema, f, project.Value.Raw); p != "" {
			problems = append(problems, p)
		}
	case project != nil && project.Value != nil && project.Value.Kind != ast.NullValue:
		problems = append(problems, "project must be a string literal naming an argument")
	case g.fieldProjects[fieldName{def.Name, f.Name}] != nil:
	case !g.projectTypes[def.Name]:
		problems = append(problems, fmt.Sprintf("no project argument is named and %s does not belong to a project (register it with WithProjectTypes)", def.Name))
	}
	return problems
}

// validatePath checks that a dotted argument path leads, through input
// objects, to a scalar that can hold a project id.
func validatePath(schema *ast.Schema, f *ast.FieldDefinition, path string) string {
	segs := strings.Split(path, ".")
	arg := f.Arguments.ForName(segs[0])
	if arg == nil {
		return fmt.Sprintf("project %q: the field has no argument %q", path, segs[0])
	}
	t := arg.Type
	for _, seg := range segs[1:] {
		def := schema.Types[t.Name()]
		if t.Elem != nil || def == nil || def.Kind != ast.InputObject {
			return fmt.Sprintf("project %q: %s is not an input object, so it has no field %q", path, t.String(), seg)
		}
		fd := def.Fields.ForName(seg)
		if fd == nil {
			return fmt.Sprintf("project %q: input %s has no field %q", path, def.Name, seg)
		}
		t = fd.Type
	}
	if t.Elem != nil || (t.Name() != "ID" && t.Name() != "String" && t.Name() != "Int") {
		return fmt.Sprintf("project %q: the argument's type %s cannot hold a project id (want ID, String or Int)", path, t.String())
	}
	return ""
}

package graph_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestNULBytesAreBadUserInput: a NUL byte, which PostgreSQL refuses in
// text, in any of the inputs the review found answering INTERNAL is
// refused as BAD_USER_INPUT with a message that names the argument, and
// nothing is written.
func TestNULBytesAreBadUserInput(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		project := h.mustProject(t, "docs")
		p := gid(project.ID)
		cases := []struct {
			query string
			path  string
			arg   string // how the message names the argument
		}{
			{`mutation { createGroup(name: "a\u0000b") { id } }`, "createGroup.name", "name"},
			{`mutation { createProject(name: "a\u0000b") { id } }`, "createProject.name", "name"},
			{`mutation { createApiToken(user: "` + h.root.gid() + `", name: "a\u0000b") { id } }`, "createApiToken.name", "name"},
			{`mutation { createPage(input: {project: "` + p + `", title: "a\u0000b"}) { id } }`, "createPage.input.title", "input.title"},
			{`mutation { createPage(input: {project: "` + p + `", title: "t", body: "a\u0000b"}) { id } }`, "createPage.input.body", "input.body"},
			{`mutation { createRule(input: {permission: "projects.view_page", objectType: "Report", expression: "true", description: "a\u0000b"}) { id } }`,
				"createRule.input.description", "input.description"},
			{`{ decisionLogs(filter: {name: "a\u0000b"}) { edges { node { id } } } }`, "decisionLogs.filter.name", "filter.name"},
			{`{ decisionLogs(filter: {objectId: "a\u0000b"}) { edges { node { id } } } }`, "decisionLogs.filter.objectId", "filter.objectId"},
			{`{ decisionLogs(filter: {tag: "a\u0000b"}) { edges { node { id } } } }`, "decisionLogs.filter.tag", "filter.tag"},
			{`{ decisionLog(id: "a\u0000b") { id } }`, "decisionLog.id", "id"},
			{`{ grantEvents(filter: {permission: "a\u0000b"}) { edges { node { id } } } }`, "grantEvents.filter.permission", "filter.permission"},
			{`{ check(input: {perm: "projects.view_page", object: {type: "a\u0000b", id: "1"}}) { allowed } }`, "check.input.object.type", "input.object.type"},
		}
		for _, c := range cases {
			wantError(t, c.query, h.do(t, h.root.Token, c.query), badInput(c.path, c.arg+" must not contain control characters", "U+0000"))
		}
		if h.groupNamed(t, "a\x00b") {
			t.Error("createGroup with a NUL byte created its group")
		}
		// Through a variable, as clients send most input.
		q := `mutation($name: String!) { createGroup(name: $name) { id } }`
		wantError(t, q, h.do(t, h.root.Token, q, "name", "a\x00b"), badInput("createGroup.name", "name must not contain control characters", "U+0000"))
	})
}

// TestEveryStringInputValidated walks every String and ID argument and
// input field of the schema's queries and mutations, and sends each, as a
// superuser (so that no permission stands in the way), a NUL byte, another
// control character (ESC), and a value of 100,000 characters: the first
// two are BAD_USER_INPUT, the last anything but INTERNAL. A field added
// later is covered without changing the test.
func TestEveryStringInputValidated(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		h.mustProject(t, "docs")
		bad := []struct {
			name, value string
			code        string // the code wanted, "" for anything but INTERNAL
		}{
			{"NUL", "a\x00b", "BAD_USER_INPUT"},
			{"ESC", "a\x1bb", "BAD_USER_INPUT"},
			{"over-long", strings.Repeat("x", 100000), ""},
		}
		tried := 0
		for _, root := range []*ast.Definition{schema.Query, schema.Mutation} {
			op := "query"
			if root == schema.Mutation {
				op = "mutation"
			}
			for _, f := range root.Fields {
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				for _, target := range stringInputs(schema, f) {
					for _, b := range bad {
						tried++
						query, vars := stringInputRequest(schema, op, f, target, b.value)
						res := h.do(t, h.root.Token, query, vars...)
						what := fmt.Sprintf("%s %s with %s at %s", op, f.Name, b.name, target)
						for _, e := range res.Errors {
							if e.code() == "INTERNAL" {
								t.Errorf("%s = %v, want no INTERNAL error", what, res)
							}
						}
						if b.code != "" && (len(res.Errors) != 1 || res.Errors[0].code() != b.code) {
							t.Errorf("%s = %v, want one %s error", what, res, b.code)
						}
					}
				}
			}
		}
		if tried < 100 {
			t.Errorf("tried %d string inputs, want the schema's (over 100)", tried)
		}
	})
}

// stringInputs returns the paths (arg, arg.field, arg.field.field) of the
// String and ID inputs of f, its arguments and their input objects' fields.
func stringInputs(schema *ast.Schema, f *ast.FieldDefinition) []string {
	var out []string
	var walk func(prefix string, t *ast.Type, depth int)
	walk = func(prefix string, t *ast.Type, depth int) {
		for t.Elem != nil {
			t = t.Elem
		}
		switch def := schema.Types[t.NamedType]; {
		case t.NamedType == "String" || t.NamedType == "ID":
			out = append(out, prefix)
		case def != nil && def.Kind == ast.InputObject && depth < 4:
			for _, in := range def.Fields {
				walk(prefix+"."+in.Name, in.Type, depth+1)
			}
		}
	}
	for _, a := range f.Arguments {
		walk(a.Name, a.Type, 0)
	}
	sort.Strings(out)
	return out
}

// stringInputRequest builds a request calling f with value at target and
// plausible values for every other required input: each argument is a
// variable of its declared type.
func stringInputRequest(schema *ast.Schema, op string, f *ast.FieldDefinition, target, value string) (string, []any) {
	var decls, args []string
	var vars []any
	for i, a := range f.Arguments {
		v, set := inputValue(schema, a.Name, a.Type, a.Name, target, value)
		if !set {
			continue
		}
		name := fmt.Sprintf("v%d", i)
		decls = append(decls, "$"+name+": "+a.Type.String())
		args = append(args, a.Name+": $"+name)
		vars = append(vars, name, v)
	}
	call := f.Name
	if len(args) > 0 {
		call += "(" + strings.Join(args, ", ") + ")"
	}
	if def := schema.Types[f.Type.Name()]; def != nil && (def.Kind == ast.Object || def.Kind == ast.Interface || def.Kind == ast.Union) {
		call += " { __typename }"
	}
	q := op + " { " + call + " }"
	if len(decls) > 0 {
		q = op + "(" + strings.Join(decls, ", ") + ") { " + call + " }"
	}
	return q, vars
}

// inputValue returns the value of the input at path of type t: value at
// target, on the way to target what leads there, and elsewhere a plausible
// value when the input is required (set false: leave it out).
func inputValue(schema *ast.Schema, name string, t *ast.Type, path, target, value string) (any, bool) {
	onPath := path == target || strings.HasPrefix(target, path+".")
	if !onPath && !t.NonNull {
		return nil, false
	}
	if t.Elem != nil {
		v, set := inputValue(schema, name, t.Elem, path, target, value)
		if !set {
			return []any{}, true
		}
		return []any{v}, true
	}
	if path == target {
		return value, true
	}
	def := schema.Types[t.NamedType]
	switch {
	case def != nil && def.Kind == ast.InputObject:
		m := map[string]any{}
		for _, in := range def.Fields {
			if v, set := inputValue(schema, in.Name, in.Type, path+"."+in.Name, target, value); set {
				m[in.Name] = v
			}
		}
		return m, true
	case def != nil && def.Kind == ast.Enum:
		return def.EnumValues[0].Name, true
	}
	switch t.NamedType {
	case "Int":
		return 1, true
	case "Boolean":
		return true, true
	case "Time":
		return "2024-01-01T00:00:00Z", true
	case "JSON":
		return map[string]any{}, true
	}
	switch name {
	case "perm", "permission":
		return authz.PermViewPage, true
	case "appLabel":
		return "custom", true
	case "codename":
		return "do_it", true
	case "expression":
		return "true", true
	}
	return "1", true
}

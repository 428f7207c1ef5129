package gqlauthz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// validatePrelude declares the directive and the types the cases use:
// Board belongs to a project (the guard registers it), Note does not.
const validatePrelude = `
directive @hasProjectPerm(perm: String!, project: String) on FIELD_DEFINITION
type Board { id: ID! secret: String }
type Note { id: ID! }
input BoardInput { project: ID! projectNumber: Int projects: [ID!] flag: Boolean nested: NestedInput title: String }
input NestedInput { project: ID }
`

// newValidateGuard returns a guard over a fresh SQLite engine (its registry
// holds the built-in permissions), with Board a project type and
// Mutation.deleteBoard's project found by a lookup.
func newValidateGuard(t *testing.T) *gqlauthz.Guard {
	t.Helper()
	db := dbtest.Open(t, models.SQLite)
	engine := authz.NewEngine(models.NewStore(db))
	lookup := func(ctx context.Context, args map[string]any) (int64, error) { return 1, nil }
	return gqlauthz.New(engine, func(context.Context) (int64, bool) { return 0, false },
		gqlauthz.WithProjectTypes("Board"),
		gqlauthz.WithFieldProject("Mutation.deleteBoard", lookup))
}

func loadSchema(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "test.graphqls", Input: validatePrelude + sdl})
	if err != nil {
		t.Fatalf("LoadSchema(%s) = %v", sdl, err)
	}
	return schema
}

// TestValidateRefuses: every bad use of the directive stops the start with
// a message naming the type, the field and the problem.
func TestValidateRefuses(t *testing.T) {
	g := newValidateGuard(t)
	for _, c := range []struct {
		name string
		sdl  string
		want []string // substrings of the error
	}{
		{"unknown permission",
			`type Query { x(project: ID): String @hasProjectPerm(perm: "projects.fly", project: "project") }`,
			[]string{"Query.x", `unknown permission "projects.fly"`}},
		{"malformed permission",
			`type Query { x(project: ID): String @hasProjectPerm(perm: "fly", project: "project") }`,
			[]string{"Query.x", `malformed permission "fly"`}},
		{"malformed permission, upper case",
			`type Query { x(project: ID): String @hasProjectPerm(perm: "Projects.view_page", project: "project") }`,
			[]string{"Query.x", `malformed permission "Projects.view_page"`}},
		{"no such argument",
			`type Query { x(project: ID): String @hasProjectPerm(perm: "projects.view_page", project: "proj") }`,
			[]string{"Query.x", `project "proj"`, `no argument "proj"`}},
		{"no such argument at the head of a path",
			`type Query { x(input: BoardInput): String @hasProjectPerm(perm: "projects.view_page", project: "in.project") }`,
			[]string{"Query.x", `project "in.project"`, `no argument "in"`}},
		{"path through a scalar",
			`type Query { x(id: ID): String @hasProjectPerm(perm: "projects.view_page", project: "id.project") }`,
			[]string{"Query.x", `project "id.project"`, "ID is not an input object", `no field "project"`}},
		{"path through a list of inputs",
			`type Query { x(inputs: [BoardInput!]): String @hasProjectPerm(perm: "projects.view_page", project: "inputs.project") }`,
			[]string{"Query.x", `project "inputs.project"`, "[BoardInput!] is not an input object"}},
		{"path to a missing input field",
			`type Query { x(input: BoardInput): String @hasProjectPerm(perm: "projects.view_page", project: "input.projectId") }`,
			[]string{"Query.x", `project "input.projectId"`, `input BoardInput has no field "projectId"`}},
		{"path to a missing nested input field",
			`type Query { x(input: BoardInput): String @hasProjectPerm(perm: "projects.view_page", project: "input.nested.id") }`,
			[]string{"Query.x", `input NestedInput has no field "id"`}},
		{"path ending at a list",
			`type Query { x(input: BoardInput): String @hasProjectPerm(perm: "projects.view_page", project: "input.projects") }`,
			[]string{"Query.x", `project "input.projects"`, "[ID!] cannot hold a project id"}},
		{"argument that is a list",
			`type Query { x(projects: [ID!]!): String @hasProjectPerm(perm: "projects.view_page", project: "projects") }`,
			[]string{"Query.x", "[ID!]! cannot hold a project id"}},
		{"path ending at a Boolean",
			`type Query { x(input: BoardInput): String @hasProjectPerm(perm: "projects.view_page", project: "input.flag") }`,
			[]string{"Query.x", `project "input.flag"`, "Boolean cannot hold a project id"}},
		{"path ending at an input object",
			`type Query { x(input: BoardInput): String @hasProjectPerm(perm: "projects.view_page", project: "input") }`,
			[]string{"Query.x", `project "input"`, "BoardInput cannot hold a project id"}},
		{"non-null field",
			`type Query { x(project: ID!): String! @hasProjectPerm(perm: "projects.view_page", project: "project") }`,
			[]string{"Query.x", "String! must be nullable"}},
		{"non-null field of a project type",
			`type Query { b: Board } extend type Board { title: String! @hasProjectPerm(perm: "projects.view_page") }`,
			[]string{"Board.title", "String! must be nullable"}},
		{"no project argument on Query",
			`type Query { x: String @hasProjectPerm(perm: "projects.view_page") }`,
			[]string{"Query.x", "no project argument is named", "Query does not belong to a project", "WithProjectTypes"}},
		{"no project argument on a type not registered",
			`type Query { n: Note } extend type Note { secret: String @hasProjectPerm(perm: "projects.view_page") }`,
			[]string{"Note.secret", "Note does not belong to a project"}},
		{"no project argument on a mutation without a lookup",
			`type Query { b: Board } type Mutation { archiveBoard(id: ID!): Boolean @hasProjectPerm(perm: "projects.change_page") }`,
			[]string{"Mutation.archiveBoard", "Mutation does not belong to a project"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := g.Validate(context.Background(), loadSchema(t, c.sdl))
			if err == nil {
				t.Fatalf("Validate(%s) = nil, want an error containing %q", c.sdl, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%s) = %q, want it to contain %q", c.sdl, err, w)
				}
			}
		})
	}
}

// TestValidateNamesEveryProblem: one run reports every bad use, each on
// its own line with its field.
func TestValidateNamesEveryProblem(t *testing.T) {
	g := newValidateGuard(t)
	sdl := `type Query {
		a(project: ID): String @hasProjectPerm(perm: "projects.fly", project: "project")
		b: String @hasProjectPerm(perm: "projects.view_page")
		c(project: ID): String! @hasProjectPerm(perm: "fly", project: "nope")
	}`
	err := g.Validate(context.Background(), loadSchema(t, sdl))
	if err == nil {
		t.Fatalf("Validate(%s) = nil, want four problems", sdl)
	}
	lines := strings.Split(err.Error(), "\n")[1:]
	want := []string{"Query.a: @hasProjectPerm: unknown permission", "Query.b: @hasProjectPerm: no project argument",
		"Query.c: @hasProjectPerm: malformed permission", "Query.c: @hasProjectPerm: the field's type String!",
		`Query.c: @hasProjectPerm: project "nope"`}
	if len(lines) != len(want) {
		t.Fatalf("Validate(%s) = %q, want %d problems", sdl, err, len(want))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("Validate(%s) problem %d = %q, want it to contain %q", sdl, i, lines[i], w)
		}
	}
}

// TestValidateAccepts: every way of finding the project passes.
func TestValidateAccepts(t *testing.T) {
	g := newValidateGuard(t)
	sdl := `
type Query {
  byID(project: ID!): [Board!] @hasProjectPerm(perm: "projects.view_project", project: "project")
  byString(project: String): Board @hasProjectPerm(perm: "projects.view_project", project: "project")
  byInt(project: Int): Board @hasProjectPerm(perm: "projects.view_project", project: "project")
  byInput(input: BoardInput!): Board @hasProjectPerm(perm: "projects.view_project", project: "input.project")
  byInputInt(input: BoardInput!): Board @hasProjectPerm(perm: "projects.view_project", project: "input.projectNumber")
  byNested(input: BoardInput!): Board @hasProjectPerm(perm: "projects.view_project", project: "input.nested.project")
  open: String
  note: Note
}
type Mutation {
  deleteBoard(id: ID!): Boolean @hasProjectPerm(perm: "projects.delete_page")
}
extend type Board {
  title: String @hasProjectPerm(perm: "projects.view_page")
  pages(first: Int): [String!] @hasProjectPerm(perm: "authz.view_decisionlog")
}`
	if err := g.Validate(context.Background(), loadSchema(t, sdl)); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

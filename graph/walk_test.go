package graph_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
	"github.com/vektah/gqlparser/v2/ast"
)

// walkDepth bounds the schema walk: four levels reach every type from a
// root field (decisionLogs.edges.node.project, say) and an object's
// identity one level further down.
const walkDepth = 4

// walkData is the seeded dataset the schema walk fills arguments from.
type walkData struct {
	projects, pages, users, groups []int64
	logs                           []string // decision log ids
	tokenOwner                     map[string]int64
}

// walkActor is one kind of caller of the walk.
type walkActor struct {
	kind  string
	token string
	id    int64
}

// seedWalk makes two projects with a page each, users in groups with
// grants there, decision logs of checks by several users, grant events,
// tokens and a rule; and one actor of each kind.
func seedWalk(t *testing.T, h *logHarness) (walkData, []walkActor, string) {
	t.Helper()
	var d walkData
	p1, p2 := h.mustProject(t, "walk1"), h.mustProject(t, "walk2")
	d.projects = []int64{p1.ID, p2.ID}
	alice, bob := h.mustUser(t, "alice"), h.mustUser(t, "bob")
	g1, g2 := h.mustGroup(t, "walkers"), h.mustGroup(t, "runners")
	member := h.mustUser(t, "member")
	auditor := h.mustUser(t, "auditor", authz.PermViewDecisionLog)
	manager := h.mustUser(t, "manager")
	nobody := h.mustUser(t, "nobody")
	inactive := h.mustUserFlags(t, "inactive", false, false)
	// Writes go through GraphQL as root where they leave grant events.
	for _, q := range []string{
		fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, alice.gid(), gid(g1.ID)),
		fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, bob.gid(), gid(g2.ID)),
		fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, member.gid(), gid(g1.ID)),
		fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, group: %q) { users { id } } }`, gid(p1.ID), gid(g1.ID)),
		fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.publish_page", project: %q, user: %q) { users { id } } }`, gid(p2.ID), bob.gid()),
		fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { users { id } } }`, gid(p1.ID), member.gid()),
		fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.manage_members", project: %q, user: %q) { users { id } } }`, gid(p1.ID), manager.gid()),
		`mutation { createRule(input: {permission: "projects.change_page", objectType: "Invoice", expression: "true"}) { id } }`,
	} {
		if res := h.do(t, h.root.Token, q); len(res.Errors) != 0 {
			t.Fatalf("seed %s = %v", q, res)
		}
	}
	for _, p := range []authz.Page{{ProjectID: p1.ID, Title: "one", AuthorID: alice.ID}, {ProjectID: p2.ID, Title: "two", AuthorID: bob.ID}} {
		page, err := h.engine.CreatePage(h.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		d.pages = append(d.pages, page.ID)
	}
	// Decision logs: checks by several users, in both projects and globally.
	for _, a := range []actor{alice, bob, member, h.root} {
		for _, p := range d.projects {
			q := fmt.Sprintf(`{ check(input: {perm: "projects.view_page", project: %q}) { allowed } }`, gid(p))
			if res := h.do(t, a.Token, q); len(res.Errors) != 0 {
				t.Fatalf("seed %s = %v", q, res)
			}
		}
	}
	h.flushLogs(t)
	logs, err := h.store.DecisionLogs(h.ctx, authz.DecisionLogFilter{}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		d.logs = append(d.logs, l.UID)
	}
	d.users = []int64{h.root.ID, alice.ID, bob.ID, member.ID, auditor.ID, manager.ID, nobody.ID, inactive.ID}
	d.groups = []int64{g1.ID, g2.ID}
	d.tokenOwner = map[string]int64{}
	for _, u := range d.users {
		for _, tok := range h.tokens(t, u) {
			d.tokenOwner[gid(tok.ID)] = u
		}
	}
	actors := []walkActor{
		{kind: "anonymous"},
		{kind: "signed in, no grants", token: nobody.Token, id: nobody.ID},
		{kind: "member with projects.view_page", token: member.Token, id: member.ID},
		{kind: "auditor with authz.view_decisionlog", token: auditor.Token, id: auditor.ID},
		{kind: "holder of projects.manage_members", token: manager.Token, id: manager.ID},
		{kind: "superuser", token: h.root.Token, id: h.root.ID},
	}
	return d, actors, inactive.Token
}

// walkQuery is one generated query and the root field it starts from.
type walkQuery struct {
	root, doc string
}

// walkQueries generates, for every field of Query, queries with its
// arguments filled from d (one query per choice of the arguments that
// name objects) and every nested field selected to walkDepth.
func walkQueries(schema *ast.Schema, d walkData) ([]walkQuery, int) {
	paths := 0
	var out []walkQuery
	for _, f := range schema.Query.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		sel, n := walkSelection(schema, schema.Types[f.Type.Name()], 1, f.Name)
		paths += n + 1
		for _, args := range walkArgs(schema, f, d) {
			out = append(out, walkQuery{root: f.Name, doc: "{ " + f.Name + args + sel + " }"})
		}
	}
	return out, paths
}

// walkSelection selects every field of def (with its required arguments
// filled) down to walkDepth, and __typename; at the last level, only the
// identity of objects. It returns the selection and how many field paths
// it holds.
func walkSelection(schema *ast.Schema, def *ast.Definition, depth int, path string) (string, int) {
	if def == nil || (def.Kind != ast.Object) {
		return "", 0
	}
	var b strings.Builder
	b.WriteString(" { __typename")
	n := 0
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		args, ok := nestedArgs(f)
		if !ok {
			continue
		}
		inner := schema.Types[f.Type.Name()]
		if inner.Kind != ast.Object {
			b.WriteString(" " + f.Name + args)
			n++
			continue
		}
		if depth >= walkDepth {
			if inner.Fields.ForName("id") != nil {
				b.WriteString(" " + f.Name + args + " { __typename id }")
				n++
			}
			continue
		}
		sel, m := walkSelection(schema, inner, depth+1, path+"."+f.Name)
		b.WriteString(" " + f.Name + args + sel)
		n += m + 1
	}
	b.WriteString(" }")
	return b.String(), n
}

// nestedArgs fills the required arguments of a nested field; false when
// one cannot be filled.
func nestedArgs(f *ast.FieldDefinition) (string, bool) {
	var parts []string
	for _, a := range f.Arguments {
		if !a.Type.NonNull || a.DefaultValue != nil {
			continue
		}
		if a.Name != "perm" {
			return "", false
		}
		parts = append(parts, `perm: "projects.view_page"`)
	}
	if len(parts) == 0 {
		return "", true
	}
	return "(" + strings.Join(parts, ", ") + ")", true
}

// idsOf returns the dataset's ids of the objects of a type.
func idsOf(d walkData, typ string) []string {
	conv := func(ids []int64) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = gid(id)
		}
		return out
	}
	switch typ {
	case "Project":
		return conv(d.projects)
	case "Page":
		return conv(d.pages)
	case "User":
		return conv(d.users)
	case "Group":
		return conv(d.groups)
	case "DecisionLog":
		return d.logs[:min(4, len(d.logs))]
	}
	return nil
}

// walkArgs returns the argument lists of a root field to walk: each id
// argument takes, in turn, each object of its kind in the dataset (an
// optional one is also left out), other required arguments a fixed
// value.
func walkArgs(schema *ast.Schema, f *ast.FieldDefinition, d walkData) []string {
	combos := [][]string{nil}
	for _, a := range f.Arguments {
		var values []string
		kind := ""
		switch {
		case a.Name == "id":
			kind = f.Type.Name()
		case a.Name == "project":
			kind = "Project"
		case a.Name == "user":
			kind = "User"
		case a.Name == "group":
			kind = "Group"
		}
		switch {
		case kind != "":
			for _, id := range idsOf(d, kind) {
				values = append(values, fmt.Sprintf("%s: %q", a.Name, id))
			}
		case a.Name == "perm":
			values = []string{`perm: "projects.view_page"`}
		case a.Type.NonNull && a.DefaultValue == nil:
			// An input object (check's, checkMany's): a check in each project.
			in := schema.Types[a.Type.Name()]
			if in == nil || in.Kind != ast.InputObject {
				return nil
			}
			for _, p := range d.projects {
				v := fmt.Sprintf(`{perm: "projects.view_page", project: %q}`, gid(p))
				if a.Type.Elem != nil {
					v = "[" + v + "]"
				}
				values = append(values, a.Name+": "+v)
			}
		}
		if len(values) == 0 {
			continue
		}
		if !a.Type.NonNull {
			values = append(values, "")
		}
		var next [][]string
		for _, c := range combos {
			for _, v := range values {
				next = append(next, append(slices.Clone(c), v))
			}
		}
		combos = next
	}
	out := make([]string, 0, len(combos))
	for _, c := range combos {
		c = slices.DeleteFunc(c, func(s string) bool { return s == "" })
		if len(c) == 0 {
			out = append(out, "")
			continue
		}
		out = append(out, "("+strings.Join(c, ", ")+")")
	}
	return out
}

// walkObject is an object a response returned: its type, id and path.
type walkObject struct {
	typ, id, path string
}

// collectObjects lists every object with an id in a response's data.
func collectObjects(v any, path string, out *[]walkObject) {
	switch v := v.(type) {
	case map[string]any:
		typ, _ := v["__typename"].(string)
		if id, ok := v["id"].(string); ok && typ != "" {
			*out = append(*out, walkObject{typ: typ, id: id, path: path})
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			collectObjects(v[k], path+"."+k, out)
		}
	case []any:
		for i, e := range v {
			collectObjects(e, path+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

// frontDoors answers, for one actor, whether the top-level query of a
// type lets the actor see an object, remembering each answer.
type frontDoors struct {
	t      *testing.T
	h      *logHarness
	d      walkData
	a      walkActor
	memo   map[walkObject]bool
	member map[int64]bool // projects whose member listing the actor may read
}

// ok runs query as the actor and reports whether it answered without error.
func (f *frontDoors) ok(query string) bool {
	res := f.h.do(f.t, f.a.token, query)
	return res.Status == http.StatusOK && len(res.Errors) == 0
}

// listsMembers reports whether the actor may read who holds what in
// project, through projectGrants.
func (f *frontDoors) listsMembers(project int64) bool {
	if v, ok := f.member[project]; ok {
		return v
	}
	v := f.ok(fmt.Sprintf(`{ projectGrants(project: %q) { permission { key } } }`, gid(project)))
	f.member[project] = v
	return v
}

// memberOf reports whether the actor may see h (a user or a group) as a
// holder of a permission in a project whose members the actor may list.
func (f *frontDoors) memberOf(h authz.Holder) bool {
	held, err := f.h.store.HolderGrants(f.h.ctx, h)
	if err != nil {
		f.t.Fatal(err)
	}
	for p := range held.Projects {
		if f.listsMembers(p) {
			return true
		}
	}
	if h.User == 0 {
		return false
	}
	// usersWithProjectPerm also lists the users who hold a permission
	// globally, or as superusers, in every project.
	u, _ := f.h.user(f.t, h.User)
	if !u.IsActive || (!u.IsSuperuser && len(held.Global) == 0) {
		return false
	}
	for _, p := range f.d.projects {
		if f.listsMembers(p) {
			return true
		}
	}
	return false
}

// allows reports whether the type's front door lets the actor see o.
func (f *frontDoors) allows(o walkObject) bool {
	key := walkObject{typ: o.typ, id: o.id}
	if v, ok := f.memo[key]; ok {
		return v
	}
	id, _ := strconv.ParseInt(o.id, 10, 64)
	var v bool
	switch o.typ {
	case "Project":
		v = f.ok(fmt.Sprintf(`{ project(id: %q) { id } }`, o.id))
	case "Page":
		v = f.ok(fmt.Sprintf(`{ page(id: %q) { id } }`, o.id))
	case "User":
		v = f.ok(fmt.Sprintf(`{ user(id: %q) { id } }`, o.id)) || f.memberOf(authz.Holder{User: id})
	case "Group":
		v = f.ok(fmt.Sprintf(`{ group(id: %q) { id } }`, o.id)) || f.memberOf(authz.Holder{Group: id})
	case "DecisionLog":
		// A check's own log is written after the answer: flush it first.
		f.h.flushLogs(f.t)
		v = f.ok(fmt.Sprintf(`{ decisionLog(id: %q) { id } }`, o.id))
	case "GrantEvent":
		v = f.ok(`{ grantEvents(first: 1) { pageInfo { hasNextPage } } }`)
	case "Rule":
		v = f.ok(`{ rules { id } }`)
	case "ApiToken":
		v = f.ok(fmt.Sprintf(`{ apiTokens(user: %q) { id } }`, gid(f.d.tokenOwner[o.id])))
	case "Permission":
		v = true // the registry is public: permissions needs nothing
	default:
		f.t.Errorf("the walk met %s %s at %s, a type with no known front door: add its top-level rule", o.typ, o.id, o.path)
		v = true
	}
	f.memo[key] = v
	return v
}

// TestSchemaWalkGuardsEveryPath walks the schema from every field of
// Query through every nested field to walkDepth, with arguments from a
// seeded dataset, as callers of each kind, and asserts that no path
// returns an object that its type's own top-level query (project(id),
// user(id), group(id), page(id), decisionLog(id), grantEvents, rules,
// apiTokens) refuses to that caller. An inactive user's token is refused
// whatever the query.
func TestSchemaWalkGuardsEveryPath(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, 1)
		d, actors, inactive := seedWalk(t, h)
		schema := graph.NewExecutableSchema(graph.Config{}).Schema()
		queries, paths := walkQueries(schema, d)
		checked, objects := 0, 0
		for _, a := range actors {
			doors := &frontDoors{t: t, h: h, d: d, a: a, memo: map[walkObject]bool{}, member: map[int64]bool{}}
			for _, q := range queries {
				res := h.do(t, a.token, q.doc)
				if res.Status != http.StatusOK {
					t.Errorf("%s: %s = %v, want 200", a.kind, q.doc, res)
					continue
				}
				var v any
				if err := json.Unmarshal(res.Data, &v); err != nil {
					t.Fatal(err)
				}
				var objs []walkObject
				collectObjects(v, "", &objs)
				for _, o := range objs {
					objects++
					if !doors.allows(o) {
						t.Errorf("%s: %s %s at %s, which its front door refuses (query %s)", a.kind, o.typ, o.id, o.path, q.doc)
					}
				}
			}
			checked += paths
		}
		for _, q := range queries {
			res := h.do(t, inactive, q.doc)
			if res.Status != http.StatusUnauthorized || len(res.Errors) != 1 || res.Errors[0].code() != "UNAUTHENTICATED" || string(res.Data) != "null" {
				t.Errorf("inactive user's token: %s = %v, want 401 UNAUTHENTICATED and no data", q.doc, res)
			}
		}
		checked += paths
		t.Logf("%s: %d queries, %d field paths × %d actor kinds = %d paths checked; %d objects returned and checked against their front doors",
			db.Dialect, len(queries), paths, len(actors)+1, checked, objects)
	})
}

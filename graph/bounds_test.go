package graph_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// aliases returns n aliases of field, each selecting selection.
func aliases(n int, field, selection string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " c%d: %s { %s }", i, field, selection)
	}
	return b.String()
}

// TestCheckManyBoundCountsWholeOperation: the bound of checks counts every
// check of an operation — the inputs of every checkMany under every alias
// and in fragments, and every check, hasPerm and hasProjectPerm field — and
// refuses, before anything runs, an operation over it: 422, BAD_USER_INPUT,
// extensions.limit checkMany and max, the path of the field at which the
// count passed the bound, and no decision log. The security review's
// request, 500 aliases of a checkMany of 1,000 checks sent anonymously, is
// one of them; a checkMany of 1,000 checks passed as a variable still runs.
func TestCheckManyBoundCountsWholeOperation(t *testing.T) {
	const checkMany = `checkMany(inputs: $in)`
	cases := []struct {
		name      string
		doc       string
		inputs    int
		anonymous bool
		path      string // "" when the operation runs
		got       int64
	}{
		{name: "the review's 500 aliases of 1,000 checks, anonymously", anonymous: true, inputs: 1000,
			doc: `query($in: [CheckInput!]!) {` + aliases(500, checkMany, "allowed") + ` }`, path: "c1", got: 2000},
		{name: "two aliases of 600 checks", inputs: 600,
			doc: `query($in: [CheckInput!]!) {` + aliases(2, checkMany, "allowed") + ` }`, path: "c1", got: 1200},
		{name: "a checkMany in a fragment and one outside", inputs: 600,
			doc: `query($in: [CheckInput!]!) { a: checkMany(inputs: $in) { allowed } ...F }
				fragment F on Query { b: checkMany(inputs: $in) { allowed } }`, path: "b", got: 1200},
		{name: "997 checks, a check, a hasPerm and a hasProjectPerm", inputs: 997,
			doc: `query($in: [CheckInput!]!) { checkMany(inputs: $in) { allowed } check(input: {perm: "projects.view_page"}) { allowed }
				hasPerm(perm: "projects.view_page") hasProjectPerm(perm: "projects.view_page", project: "1") }`},
		{name: "998 checks, a check, a hasPerm and a hasProjectPerm", inputs: 998,
			doc: `query($in: [CheckInput!]!) { checkMany(inputs: $in) { allowed } check(input: {perm: "projects.view_page"}) { allowed }
				hasPerm(perm: "projects.view_page") hasProjectPerm(perm: "projects.view_page", project: "1") }`, path: "hasProjectPerm", got: 1001},
		{name: "1,001 aliases of hasPerm",
			doc: `query {` + strings.ReplaceAll(aliases(1001, `hasPerm(perm: "projects.view_page")`, ""), "{  }", "") + ` }`, path: "c1000", got: 1001},
		{name: "a checkMany of 1,000 checks as a variable, with its answers", inputs: 1000,
			doc: `query($in: [CheckInput!]!) { checkMany(inputs: $in) { allowed permission reason } }`},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil)
		p := h.mustProject(t, "p")
		if p.ID != 1 {
			t.Fatalf("project id %d, want 1 (the documents name it)", p.ID)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				req := map[string]any{"query": c.doc}
				if c.inputs > 0 {
					req["variables"] = map[string]any{"in": checkInputs(c.inputs)}
				}
				body, _ := json.Marshal(req)
				token := h.root.Token
				if c.anonymous {
					token = ""
				}
				got := sendBody(t, h.mux, token, body, int64(len(body)))
				stats, err := h.sink.flush(h.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c.path == "" {
					if got.Status != http.StatusOK || len(got.Errors) != 0 || stats.Queued == 0 {
						t.Errorf("%s = %.300v with %d decision logs, want it to run and log", c.name, got, stats.Queued)
					}
					return
				}
				wantLimit(t, c.name, got, http.StatusUnprocessableEntity, graph.LimitCheckMany)
				e := got.Errors[0]
				if p := e.pathString(); p != c.path {
					t.Errorf("%s: error path %q, want %q", c.name, p, c.path)
				}
				if max, _ := e.Extensions["max"].(float64); max != graph.DefaultCheckMany {
					t.Errorf("%s: extensions.max %v, want %d", c.name, e.Extensions["max"], graph.DefaultCheckMany)
				}
				want := fmt.Sprintf("the operation asks for %d checks", c.got)
				if !strings.Contains(e.Message, want) {
					t.Errorf("%s: message %q, want it to say %q", c.name, e.Message, want)
				}
				if stats.Queued != 0 {
					t.Errorf("%s: %d decision logs, want none", c.name, stats.Queued)
				}
			})
		}
	})
}

// TestCheckManyComplexityCountsInputs: a checkMany of N inputs costs N
// times its selection, where a decision's answer fields cost nothing and
// its log costs as an object: with the bound of checks raised, a batch
// asking for its logs, or two batches, can still be over the complexity
// limit.
func TestCheckManyComplexityCountsInputs(t *testing.T) {
	cases := []struct {
		name   string
		doc    string
		inputs int
		limit  string // "" when the operation runs
	}{
		{name: "1,000 checks with their answers", inputs: 1000,
			doc: `query($in: [CheckInput!]!) { checkMany(inputs: $in) { allowed permission reason } }`},
		{name: "1,000 checks with their logs", inputs: 1000, limit: graph.LimitComplexity,
			doc: `query($in: [CheckInput!]!) { checkMany(inputs: $in) { allowed log { name } } }`},
		{name: "two aliases of 600 checks", inputs: 600, limit: graph.LimitComplexity,
			doc: `query($in: [CheckInput!]!) { a: checkMany(inputs: $in) { allowed } b: checkMany(inputs: $in) { allowed } }`},
		{name: "100 checks with their logs", inputs: 100,
			doc: `query($in: [CheckInput!]!) { checkMany(inputs: $in) { allowed log { name entries { text } } } }`},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil, graph.WithLimits(graph.Limits{CheckMany: 10000}))
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := h.do(t, h.root.Token, c.doc, "in", checkInputs(c.inputs))
				if c.limit == "" {
					if got.Status != http.StatusOK || len(got.Errors) != 0 {
						t.Errorf("%s = %.300v, want it to run", c.name, got)
					}
					return
				}
				wantLimit(t, c.name, got, http.StatusUnprocessableEntity, c.limit)
			})
		}
	})
}

// TestObjectAttributesBoundedOverGraphQL: a check whose object's
// attributes are over a bound is refused with BAD_USER_INPUT, naming the
// bound in extensions.limit and its value in extensions.max.
func TestObjectAttributesBoundedOverGraphQL(t *testing.T) {
	long := make([]any, authz.MaxAttributeListLen+1)
	for i := range long {
		long[i] = i
	}
	const q = `query($attrs: JSON) { check(input: {perm: "projects.view_page", project: "1",
		object: {type: "Report", id: "r1", attributes: $attrs}}) { allowed } }`
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil)
		h.mustProject(t, "p")
		for _, c := range []struct {
			name  string
			attrs map[string]any
			limit string
			max   int
		}{
			{"a list over the bound", map[string]any{"l": long}, authz.LimitAttributeListLen, authz.MaxAttributeListLen},
			{"a string over the bytes bound", map[string]any{"s": strings.Repeat("x", authz.MaxAttributeBytes+1)}, authz.LimitAttributeBytes, authz.MaxAttributeBytes},
		} {
			t.Run(c.name, func(t *testing.T) {
				got := h.do(t, h.root.Token, q, "attrs", c.attrs)
				if len(got.Errors) != 1 || got.Errors[0].code() != graph.CodeBadUserInput || string(got.Data) != "null" {
					t.Fatalf("check with %s = %.300v, want one BAD_USER_INPUT error and no data", c.name, got)
				}
				e := got.Errors[0]
				if e.Extensions["limit"] != c.limit || e.Extensions["max"] != float64(c.max) || !strings.Contains(e.Message, c.limit) {
					t.Errorf("check with %s: error %+v, want extensions.limit %q, max %d and a message naming it", c.name, e, c.limit, c.max)
				}
			})
		}
	})
}

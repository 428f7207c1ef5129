package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// newOptionsHarness is newLogHarness's server (a rule store, and decision
// logs that the test flushes) built with the options given, so that the
// tests of limits, metrics and request logs see what the service does.
func newOptionsHarness(t *testing.T, db *models.DB, engineOpts []authz.Option, opts ...graph.Option) *logHarness {
	t.Helper()
	store := models.NewStore(db)
	sink := newReopeningSink(store)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if err := sink.w.Close(ctx); err != nil {
			t.Errorf("close the log writer: %v", err)
		}
	})
	engineOpts = append([]authz.Option{authz.WithLogSink(sink), authz.WithVerbosity(1), authz.WithRuleStore(store)}, engineOpts...)
	engine := authz.NewEngine(store, engineOpts...)
	h := serveHarness(t, db, store, engine, opts...)
	return &logHarness{harness: h, sink: sink}
}

// sendBody posts body to /graphql on handler as the owner of token; a
// negative size hides the body's length, as a chunked request does.
func sendBody(t *testing.T, handler http.Handler, token string, body []byte, size int64) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", io.NopCloser(bytes.NewReader(body)))
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("POST %.100s = %d %.300s: %v", body, rec.Code, rec.Body, err)
	}
	if out.Data == nil {
		out.Data = json.RawMessage("null")
	}
	return response{Status: rec.Code, Data: out.Data, Errors: out.Errors}
}

// wantLimit asserts that a request was refused, before it ran, for being
// over limit: status, one BAD_USER_INPUT error naming the limit, no data.
func wantLimit(t *testing.T, what string, got response, status int, limit string) {
	t.Helper()
	if got.Status != status || len(got.Errors) != 1 || string(got.Data) != "null" {
		t.Fatalf("%s = %v, want %d, one error and no data", what, got, status)
	}
	e := got.Errors[0]
	if e.code() != graph.CodeBadUserInput || e.Extensions["limit"] != limit {
		t.Errorf("%s: error %+v, want code %s and extensions.limit %q", what, e, graph.CodeBadUserInput, limit)
	}
}

// leaves are the scalar fields that end deepDoc's selections, by field.
var leaves = map[string]string{"projects": "totalCount", "pages": "totalCount", "edges": "cursor", "node": "id", "project": "id", "createProject": "id"}

// deepDoc returns an operation whose selection sets nest depth deep below
// its own: from root (projects or createProject), down a project's pages
// to the page's project and its pages again, one item at a time, so that
// its complexity stays small.
func deepDoc(op, root string, depth int) string {
	fields := []string{root, "edges", "node"}
	if strings.HasPrefix(root, "createProject") {
		fields = fields[:1]
	}
	cycle := []string{"pages(first: 1)", "edges", "node", "project"}
	for i := 0; len(fields) < depth; i++ {
		fields = append(fields, cycle[i%len(cycle)])
	}
	fields = fields[:depth]
	var b strings.Builder
	b.WriteString(op + " {")
	for _, f := range fields {
		b.WriteString(" " + f + " {")
	}
	last := fields[len(fields)-1]
	last, _, _ = strings.Cut(last, "(")
	b.WriteString(" " + leaves[last])
	b.WriteString(strings.Repeat(" }", len(fields)+1))
	return b.String()
}

// olderIntrospectionQuery is the introspection query of older releases of
// graphql-js and GraphiQL: its TypeRef fragment makes it 12 selection sets
// deep. The embedded GraphiQL's own (introspectionFile) is 14 deep.
const olderIntrospectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// repeatedFields is a document of under a thousand tokens whose fields
// merge only after some 400,000 comparisons: 30 viewers of 30 ids each.
var repeatedFields = "{" + strings.Repeat(" viewer {"+strings.Repeat(" id", 30)+" }", 30) + " }"

// fragmentBomb spreads one field 2^30 times through 30 fragments, each
// spreading the next twice: in one selection, or (nested) once in its
// own and once in a viewer's, which the validator compares.
func fragmentBomb(nested bool) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }")
	for i := range 30 {
		if nested {
			fmt.Fprintf(&b, " fragment F%d on Query { ...F%d a%d: viewer { ...F%d } }", i, i+1, i, i+1)
		} else {
			fmt.Fprintf(&b, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
		}
	}
	b.WriteString(" fragment F30 on Query { __typename }")
	return b.String()
}

// ofTypes returns an introspection query n+1 selection sets deep: __type
// and n levels of ofType.
func ofTypes(n int) string {
	return `{ __type(name: "Query") {` + strings.Repeat(" ofType {", n) + " name" + strings.Repeat(" }", n+2)
}

// TestQueryLimits: under the default limits, the introspection query of
// the embedded GraphiQL runs (an operation that only introspects has
// a depth bound of its own, IntrospectionDepth), and a
// document too deep, too complex, or too costly to validate is refused
// with 422, BAD_USER_INPUT and the limit's name before anything runs: the
// mutations among them create nothing.
func TestQueryLimits(t *testing.T) {
	graphiql, err := os.ReadFile(introspectionFile)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		doc   string
		limit string // "" when the document must run
	}{
		{name: "12 deep", doc: deepDoc("query", "projects(first: 1)", 12)},
		{name: "13 deep", doc: deepDoc("query", "projects(first: 1)", 13), limit: graph.LimitDepth},
		{name: "GraphiQL's introspection query (14 deep)", doc: string(graphiql)},
		{name: "the older introspection query (12 deep)", doc: olderIntrospectionQuery},
		{name: "introspection 20 deep", doc: ofTypes(19)},
		{name: "introspection 21 deep", doc: ofTypes(20), limit: graph.LimitDepth},
		{name: "introspection of three nested lists", doc: `{ __schema { types { fields { args { name } } } } }`},
		{name: "introspection of fields of fields", doc: `{ __schema { types { fields { type { fields { name } } } } } }`},
		{name: "introspection beside data is measured as data", limit: graph.LimitDepth,
			doc: `{ viewer { id } ` + ofTypes(12)[1:]},
		{name: "13 deep through fragments", limit: graph.LimitDepth, doc: `query { projects(first: 1) { ...P } }
			fragment P on ProjectConnection { edges { node { ... on Project { pages(first: 1) { ...Q } } } } }
			fragment Q on PageConnection { edges { node { project { pages(first: 1) { edges { node { project {
				pages(first: 1) { edges { cursor } } } } } } } } } }`},
		{name: "13 deep mutation", doc: deepDoc("mutation", `createProject(name: "too deep")`, 13), limit: graph.LimitDepth},
		{name: "100 projects of 100 pages", limit: graph.LimitComplexity,
			doc: `{ projects(first: 100) { edges { node { pages(first: 100) { totalCount } } } } }`},
		{name: "100 projects of few fields", doc: `{ projects(first: 100) { edges { node { id name } } } }`},
		{name: "20 projects of 20 pages, first left to its default", limit: graph.LimitComplexity,
			doc: `{ projects { edges { node { pages { edges { node { id title } } } } } } }`},
		{name: "20 projects of 10 pages", doc: `{ projects { edges { node { pages(first: 10) { edges { node { id title } } } } } } }`},
		{name: "too complex mutation", limit: graph.LimitComplexity,
			doc: `mutation { createProject(name: "too complex") { pages(first: 100) { edges { node { project {
				pages(first: 100) { totalCount } } } } } } }`},
		{name: "fragments spreading one field 2^30 times", doc: fragmentBomb(false), limit: graph.LimitComplexity},
		{name: "fragments spreading one field 2^30 times at 30 depths", doc: fragmentBomb(true), limit: graph.LimitRepeatedFields},
		{name: "thirty viewers of thirty ids", doc: repeatedFields, limit: graph.LimitRepeatedFields},
		{name: "thirty ids", doc: "{ viewer {" + strings.Repeat(" id", 30) + " } }"},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := h.do(t, h.root.Token, c.doc)
				if c.limit == "" {
					if got.Status != http.StatusOK || len(got.Errors) != 0 {
						t.Errorf("%.200s = %v, want it to run", c.doc, got)
					}
					return
				}
				wantLimit(t, c.doc[:min(len(c.doc), 200)], got, http.StatusUnprocessableEntity, c.limit)
			})
		}
		// What makes introspection costly is its lists nesting, not its
		// depth: the validator refuses fields of fields of fields, however
		// shallow.
		const lists = `{ __typename __type(name: "Query") { ...F } } fragment F on __Type { fields { type { fields { type { fields { name } } } } } }`
		if got := h.do(t, h.root.Token, lists); got.Status != http.StatusUnprocessableEntity || len(got.Errors) != 1 ||
			got.Errors[0].code() != graph.CodeBadUserInput || !strings.Contains(got.Errors[0].Message, "introspection depth") {
			t.Errorf("%s = %v, want 422, BAD_USER_INPUT and Maximum introspection depth exceeded", lists, got)
		}
		const q = `{ projects { totalCount } }`
		wantData(t, q, h.do(t, h.root.Token, q), `{"projects": {"totalCount": 0}}`)
	})
}

// TestParserTokenLimit: a document of more tokens than the limit is
// refused before it is parsed further, and its mutation creates nothing.
func TestParserTokenLimit(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil, graph.WithLimits(graph.Limits{ParserTokens: 40}))
		long := `mutation { createProject(name: "long") { id` + strings.Repeat(" name", 40) + ` } }`
		got := h.do(t, h.root.Token, long)
		if got.Status != http.StatusUnprocessableEntity || len(got.Errors) != 1 || got.Errors[0].code() != graph.CodeBadUserInput ||
			!strings.Contains(got.Errors[0].Message, "token limit of 40") {
			t.Errorf("a document of 50 tokens = %v, want 422 and BAD_USER_INPUT, token limit of 40", got)
		}
		const short = `{ projects { totalCount } }`
		wantData(t, short, h.do(t, h.root.Token, short), `{"projects": {"totalCount": 0}}`)
	})
}

// TestBodyLimit: a body over the 1 MiB default is refused with 413 and
// BAD_USER_INPUT, whether or not it says its length, before anything
// runs; a body just under it runs.
func TestBodyLimit(t *testing.T) {
	body := func(name string, size int) []byte {
		b, _ := json.Marshal(map[string]string{"query": fmt.Sprintf(`mutation { createProject(name: %q) { name } }`, name)})
		return append(b[:len(b)-1], append(bytes.Repeat([]byte(" "), size-len(b)), '}')...)
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil)
		for _, chunked := range []bool{false, true} {
			b := body(fmt.Sprintf("too big %v", chunked), graph.DefaultBodyBytes+1)
			size := int64(len(b))
			if chunked {
				size = -1
			}
			got := sendBody(t, h.mux, h.root.Token, b, size)
			wantLimit(t, fmt.Sprintf("a body of 1 MiB + 1 byte (chunked %v)", chunked), got, http.StatusRequestEntityTooLarge, graph.LimitBody)
		}
		b := body("fits", graph.DefaultBodyBytes)
		if got := sendBody(t, h.mux, h.root.Token, b, int64(len(b))); got.Status != http.StatusOK || len(got.Errors) != 0 {
			t.Errorf("a body of 1 MiB = %v, want it to run", got)
		}
		const q = `{ projects { edges { node { name } } } }`
		wantData(t, q, h.do(t, h.root.Token, q), `{"projects": {"edges": [{"node": {"name": "fits"}}]}}`)
	})
}

// TestCheckManyLimit: an operation whose checks, the check field's and the
// checkMany's together, are more than the limit is refused before any
// check runs: no decision log is written. One at the limit runs every
// check.
func TestCheckManyLimit(t *testing.T) {
	inputs := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"perm": authz.PermViewPage}
		}
		return out
	}
	const doc = `query($inputs: [CheckInput!]!) { check(input: {perm: "projects.view_page"}) { allowed }
		batch: checkMany(inputs: $inputs) { allowed } }`
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil, graph.WithLimits(graph.Limits{CheckMany: 3}))
		defaults, err := graph.NewMux(h.ctx, h.engine, h.store, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name    string
			handler http.Handler
			checks  int
			limit   string
		}{
			{name: "a check and 2 inputs, limit 3", handler: h.mux, checks: 2},
			{name: "a check and 3 inputs, limit 3", handler: h.mux, checks: 3, limit: graph.LimitCheckMany},
			{name: "1,001 checks, default limit", handler: defaults, checks: 1001, limit: graph.LimitCheckMany},
		} {
			t.Run(c.name, func(t *testing.T) {
				body, _ := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"inputs": inputs(c.checks)}})
				got := sendBody(t, c.handler, h.root.Token, body, int64(len(body)))
				stats, err := h.sink.flush(h.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c.limit == "" {
					if got.Status != http.StatusOK || len(got.Errors) != 0 || stats.Queued == 0 {
						t.Errorf("checkMany of %d = %v with %d decision logs, want it to run and log", c.checks, got, stats.Queued)
					}
					return
				}
				wantLimit(t, fmt.Sprintf("checkMany of %d", c.checks), got, http.StatusUnprocessableEntity, c.limit)
				if p := got.Errors[0].pathString(); p != "batch" {
					t.Errorf("checkMany of %d: error path %q, want %q", c.checks, p, "batch")
				}
				if stats.Queued != 0 {
					t.Errorf("checkMany of %d: %d decision logs, want none", c.checks, stats.Queued)
				}
			})
		}
	})
}

// TestIntrospectionSwitch: with introspection off, __schema and __type
// are refused with BAD_USER_INPUT, even behind a fragment, and
// __typename still answers.
func TestIntrospectionSwitch(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil, graph.WithIntrospection(false))
		for _, q := range []string{
			`{ __schema { queryType { name } } }`,
			`{ __type(name: "User") { name } }`,
			`query { ...F } fragment F on Query { viewer { id } __schema { types { name } } }`,
			olderIntrospectionQuery,
		} {
			wantLimit(t, q, h.do(t, h.root.Token, q), http.StatusUnprocessableEntity, graph.LimitIntrospection)
		}
		const q = `{ __typename }`
		wantData(t, q, h.do(t, h.root.Token, q), `{"__typename": "Query"}`)
	})
}

// TestFieldSuggestions: a misspelt field's error suggests the right one
// only in development, so that a production server does not map its
// schema for someone without introspection.
func TestFieldSuggestions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil)
		dev, err := graph.NewMux(h.ctx, h.engine, h.store, db, graph.WithDevelopment(true))
		if err != nil {
			t.Fatal(err)
		}
		const q = `{ viewr { id } }`
		body, _ := json.Marshal(map[string]string{"query": q})
		for _, c := range []struct {
			name    string
			handler http.Handler
			suggest bool
		}{{"production", h.mux, false}, {"development", dev, true}} {
			got := sendBody(t, c.handler, "", body, int64(len(body)))
			if len(got.Errors) != 1 || got.Errors[0].code() != graph.CodeBadUserInput {
				t.Fatalf("%s: %s = %v, want one BAD_USER_INPUT error", c.name, q, got)
			}
			if suggests := strings.Contains(got.Errors[0].Message, `Did you mean "viewer"`); suggests != c.suggest {
				t.Errorf("%s: %s: message %q, want a suggestion: %v", c.name, q, got.Errors[0].Message, c.suggest)
			}
		}
	})
}

// TestRequestDeadline: a check still waiting for the database when the
// request's deadline passes answers UNAVAILABLE, never a decision; once
// the database answers again the same check does too. The viewer's token
// comes from the shared cache, so that only the check waits.
func TestRequestDeadline(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		cache := authz.NewSharedCache(1000, nil)
		stop := cache.Start(context.Background(), models.NewStore(db), time.Hour)
		defer stop()
		h := newOptionsHarness(t, db, []authz.Option{authz.WithSharedCache(cache)},
			graph.WithLimits(graph.Limits{RequestTimeout: 200 * time.Millisecond}))
		u := h.mustUser(t, "u")
		p := h.mustProject(t, "p")
		h.grantProject(t, authz.Holder{User: u.ID}, p.ID, authz.PermViewPage)
		waitServing(t, cache)
		const viewer = `{ viewer { id } }`
		wantData(t, viewer, h.do(t, u.Token, viewer), fmt.Sprintf(`{"viewer": {"id": %q}}`, u.gid()))
		q := fmt.Sprintf(`{ check(input: {perm: "projects.view_page", project: %q}, consistency: FULL) { allowed reason } }`, gid(p.ID))

		// Every connection of the pool is taken: the check waits for one
		// until its deadline.
		pool := db.SQL()
		open := pool.Stats().MaxOpenConnections
		pool.SetMaxOpenConns(1)
		conn, err := pool.Conn(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := h.do(t, u.Token, q)
		conn.Close()
		pool.SetMaxOpenConns(open)
		if len(got.Errors) != 1 || got.Errors[0].code() != graph.CodeUnavailable || string(got.Data) != "null" {
			t.Errorf("%s past its deadline = %v, want null and UNAVAILABLE", q, got)
		}
		wantData(t, q, h.do(t, u.Token, q), `{"check": {"allowed": true, "reason": "PROJECT_USER"}}`)
	})
}

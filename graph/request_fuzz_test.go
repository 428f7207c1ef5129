package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// fuzzRequestStatuses are the HTTP statuses the GraphQL endpoint may
// answer any request with while its database is healthy: 200 (with data,
// errors or both), 400 (not a GraphQL request: no transport, undecodable
// JSON), 401 (a bad bearer token), 405 and 406 (a method the operation
// does not allow: a mutation over GET), 413 (a body over the size limit),
// 415 (a content type the endpoint does not read) and 422 (a document
// that does not parse or validate). 500 is not among them: on a healthy
// database, an internal error is a bug.
var fuzzRequestStatuses = []int{200, 400, 401, 405, 406, 413, 415, 422}

// fuzzErrorCodes are the extensions.code values of docs/api.md's Error codes that a request
// may cause on a healthy database: every code but INTERNAL (which is what
// a recovered panic or an unexpected database error becomes) and
// UNAVAILABLE (the database is up). One code from outside the list is
// allowed: PERSISTED_QUERY_NOT_FOUND, which the automatic persisted query
// protocol that the endpoint speaks defines, and on which its clients
// resend the whole query.
var fuzzErrorCodes = []string{"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT",
	"MALFORMED_PERMISSION", "UNKNOWN_PERMISSION", "CONFLICT", "PERSISTED_QUERY_NOT_FOUND"}

// fuzzLeaks are fragments of SQL, driver errors and Go panics and stack
// traces. An error message may contain one only when the request itself
// does (messages quote the names and values they refuse).
var fuzzLeaks = []string{"select ", "insert into", "delete from", "update ", " where ", "sqlstate", "sqlite",
	"pq:", "pgx", "pgconn", "gorm", "no such table", "no such column", "syntax error at or near",
	"violates", "constraint failed", "database is locked", "sql:", "driver:",
	"goroutine ", "runtime error", "runtime.", "panic", ".go:", "[recovered]", "nil pointer", "index out of range"}

// The methods a fuzzed request is sent with, chosen by the low bits of
// its method byte: GraphQL's two (GET takes the body as its query string)
// and two it does not serve.
var fuzzMethods = []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodPatch}

// The Accept headers a fuzzed request is sent with, chosen by the next
// bits of its method byte: gqlgen picks statuses by the response type.
var fuzzAccepts = []string{"", "application/json", "application/graphql-response+json"}

// fuzzAuth is how a fuzzed request authenticates.
const (
	fuzzAnonymous = iota
	fuzzSuperuser
	fuzzUser
	fuzzUnknownToken
	fuzzMalformedHeader
	fuzzAuthKinds
)

// fuzzEndpoint is the real /graphql handler over a real store on SQLite,
// with a superuser, a user holding projects.view_page in one project, and
// a page there, so that fuzzed requests can reach resolvers, the
// directive and the database.
type fuzzEndpoint struct {
	mux       http.Handler
	rootToken string
	userToken string
}

func newFuzzEndpoint(tb testing.TB) *fuzzEndpoint {
	tb.Helper()
	ctx := context.Background()
	db := dbtest.Open(tb, models.SQLite)
	store := models.NewStore(db)
	engine := authz.NewEngine(store)
	mux, err := graph.NewMux(ctx, engine, store, db)
	if err != nil {
		tb.Fatalf("NewMux() = %v", err)
	}
	_, rootToken, err := store.CreateSuperuser(ctx, "root")
	if err != nil {
		tb.Fatalf("CreateSuperuser(root) = %v", err)
	}
	u, err := engine.CreateUser(ctx, "alice", true, false)
	if err != nil {
		tb.Fatalf("CreateUser(alice) = %v", err)
	}
	_, userToken, err := store.CreateToken(ctx, u.ID, "fuzz", nil)
	if err != nil {
		tb.Fatalf("CreateToken(alice) = %v", err)
	}
	p, err := engine.CreateProject(ctx, "fuzzed", 0)
	if err != nil {
		tb.Fatalf("CreateProject(fuzzed) = %v", err)
	}
	if err := engine.GrantProjectPerm(ctx, authz.Holder{User: u.ID}, authz.PermViewPage, p.ID); err != nil {
		tb.Fatalf("GrantProjectPerm(alice, %s, %d) = %v", authz.PermViewPage, p.ID, err)
	}
	if _, err := engine.CreatePage(ctx, authz.Page{ProjectID: p.ID, Title: "hello"}); err != nil {
		tb.Fatalf("CreatePage(%d) = %v", p.ID, err)
	}
	return &fuzzEndpoint{mux: mux, rootToken: rootToken, userToken: userToken}
}

// request builds the fuzzed request: for GET, body is the raw query
// string; for the other methods, the body with contentType.
func (e *fuzzEndpoint) request(method uint8, contentType string, body []byte, auth uint8) *http.Request {
	m := fuzzMethods[int(method)%len(fuzzMethods)]
	var r *http.Request
	if m == http.MethodGet {
		r = httptest.NewRequest(m, "/graphql", nil)
		r.URL.RawQuery = string(body)
	} else {
		r = httptest.NewRequest(m, "/graphql", bytes.NewReader(body))
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if accept := fuzzAccepts[int(method)/len(fuzzMethods)%len(fuzzAccepts)]; accept != "" {
		r.Header.Set("Accept", accept)
	}
	switch auth % fuzzAuthKinds {
	case fuzzSuperuser:
		r.Header.Set("Authorization", "Bearer "+e.rootToken)
	case fuzzUser:
		r.Header.Set("Authorization", "Bearer "+e.userToken)
	case fuzzUnknownToken:
		r.Header.Set("Authorization", "Bearer gq_0000000000000000000000000000000000000000000")
	case fuzzMalformedHeader:
		r.Header.Set("Authorization", "Basic cm9vdDpyb290")
	}
	return r
}

// requestText returns what a client sent, in the forms an error message
// may quote it: as sent, and with its JSON strings and URL query values
// decoded.
func requestText(method uint8, body []byte) string {
	var b strings.Builder
	b.Write(body)
	if fuzzMethods[int(method)%len(fuzzMethods)] == http.MethodGet {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range vals {
				b.WriteString("\n" + k)
				for _, v := range vs {
					b.WriteString("\n" + v)
					var doc any
					if json.Unmarshal([]byte(v), &doc) == nil {
						appendJSONStrings(&b, doc)
					}
				}
			}
		}
	}
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		appendJSONStrings(&b, doc)
	}
	return strings.ToLower(b.String())
}

func appendJSONStrings(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString("\n" + x)
	case map[string]any:
		for k, e := range x {
			b.WriteString("\n" + k)
			appendJSONStrings(b, e)
		}
	case []any:
		for _, e := range x {
			appendJSONStrings(b, e)
		}
	}
}

// fuzzResponse is the part of a GraphQL response the properties read.
type fuzzResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    *string        `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// checkResponse checks the properties every response must have.
func checkResponse(t *testing.T, req string, input string, rec *httptest.ResponseRecorder) {
	t.Helper()
	body := rec.Body.Bytes()
	if !slices.Contains(fuzzRequestStatuses, rec.Code) {
		t.Fatalf("%s = %d %s, want a status in %v", req, rec.Code, body, fuzzRequestStatuses)
	}
	if !json.Valid(body) {
		t.Fatalf("%s = %d %q, want a JSON body", req, rec.Code, body)
	}
	var res fuzzResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("%s = %d %s, want a GraphQL response object: %v", req, rec.Code, body, err)
	}
	if res.Data == nil && len(res.Errors) == 0 {
		t.Fatalf("%s = %d %s, want data or errors", req, rec.Code, body)
	}
	if rec.Code != http.StatusOK && len(res.Errors) == 0 {
		t.Fatalf("%s = %d %s, want an error saying why it is not 200", req, rec.Code, body)
	}
	for _, e := range res.Errors {
		code, _ := e.Extensions["code"].(string)
		if e.Message == nil || !slices.Contains(fuzzErrorCodes, code) {
			t.Fatalf("%s = %d %s, want every error to have a message and a code in %v", req, rec.Code, body, fuzzErrorCodes)
		}
		msg := strings.ToLower(*e.Message)
		for _, l := range fuzzLeaks {
			if strings.Contains(msg, l) && !strings.Contains(input, l) {
				t.Fatalf("%s = %d %s: message %q leaks %q", req, rec.Code, body, *e.Message, l)
			}
		}
	}
}

// FuzzGraphQLRequest sends arbitrary requests to the /graphql handler of
// graph.NewMux: any method, content type, body (or query string, for GET),
// Accept header and credentials. Whatever it is sent, the handler does not
// panic, answers a status in fuzzRequestStatuses with a JSON body, and
// every error in it carries a code of docs/api.md's Error codes and no SQL, driver or Go
// panic text that the request did not contain.
func FuzzGraphQLRequest(f *testing.F) {
	const (
		post, get, put, patch = 0, 1, 2, 3
		asGraphQLResponse     = 2 * 4 // Accept: application/graphql-response+json (fuzzAccepts[2] for each of the 4 methods)
		js                    = "application/json"
	)
	deep := strings.Repeat("{ viewer ", 200) + strings.Repeat("}", 200)
	for _, s := range []struct {
		method      int
		contentType string
		body        string
		auth        uint8
	}{
		// Valid requests, anonymous and signed in.
		{post, js, `{"query":"{ viewer { id username } }"}`, fuzzAnonymous},
		{post, js, `{"query":"{ viewer { id username isSuperuser groups { name } } }"}`, fuzzSuperuser},
		{post, js, `{"query":"{ hasProjectPerm(perm: \"projects.view_page\", project: \"1\") }"}`, fuzzUser},
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { name viewerCan(perm: \"projects.view_page\") pages(first: 5) { edges { node { title } } } } }","variables":{"p":"1"}}`, fuzzUser},
		{post, js, `{"query":"{ check(input: {perm: \"projects.view_page\", project: \"1\", object: {type: \"Doc\", id: \"1\", attributes: {a: [1, 2.5, \"x\", null]}}}) { allowed reason } }"}`, fuzzUser},
		{post, js, `{"query":"{ checkMany(inputs: [{perm: \"projects.view_page\", project: \"1\"}, {perm: \"projects.delete_page\", project: \"1\"}]) { allowed } }"}`, fuzzSuperuser},
		{post, js, `{"query":"{ projectsWithPerm(perm: \"projects.view_page\", first: 2) { totalCount edges { cursor } } }"}`, fuzzUser},
		{post, js, `{"query":"{ decisionLogs(first: 3) { totalCount } }"}`, fuzzUser},
		{post, js, `{"query":"mutation { createGroup(name: \"g\") { id } }"}`, fuzzUser},
		{post, js, `{"query":"mutation($i: CreatePageInput!) { createPage(input: $i) { id } }","variables":{"i":{"project":"1","title":"t"}}}`, fuzzUser},
		{post, js, `{"query":"{ a: viewer { id } } query B { viewer { id } }","operationName":"B"}`, fuzzUser},
		{post, js, `{"query":"{ __schema { types { name } } }"}`, fuzzAnonymous},
		{post, js + "; charset=utf-8", `{"query":"{ permissions { key } }"}`, fuzzAnonymous},
		{get, "", `query=%7B+viewer+%7B+id+%7D+%7D`, fuzzUser},
		{get, "", `query={viewer{id}}&variables={"a":1}&operationName=`, fuzzSuperuser},
		{get, "", `query=mutation{createGroup(name:"g"){id}}`, fuzzSuperuser},
		{get, "", `query=%zz`, fuzzAnonymous},
		{get, "", `query={viewer{id}}&variables={`, fuzzAnonymous},
		{get, "", `query={viewer{id}};x=1`, fuzzAnonymous},
		{get, "", ``, fuzzAnonymous},
		{post, js, `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`, fuzzAnonymous},
		// Truncated and malformed JSON, and JSON of the wrong shape.
		{post, js, `{"query":"{ viewer { id } }"`, fuzzUser},
		{post, js, `{"query":`, fuzzAnonymous},
		{post, js, ``, fuzzAnonymous},
		{post, js, `null`, fuzzAnonymous},
		{post, js, `"query"`, fuzzAnonymous},
		{post, js, `{"query": 1}`, fuzzAnonymous},
		{post, js, `{"query":"{ viewer { id } }","variables":[]}`, fuzzAnonymous},
		{post, js, `{"query":"{ viewer { id } }"} trailing`, fuzzAnonymous},
		// Batches, which the endpoint does not take.
		{post, js, `[{"query":"{ viewer { id } }"},{"query":"{ viewer { username } }"}]`, fuzzUser},
		{post, js, `[]`, fuzzAnonymous},
		// Huge numbers, where ids and counts are expected.
		{post, js, `{"query":"{ project(id: 99999999999999999999) { id } }"}`, fuzzUser},
		{post, js, `{"query":"{ project(id: \"99999999999999999999\") { id } }"}`, fuzzUser},
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{"p":1e999}}`, fuzzUser},
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{"p":-0.0}}`, fuzzUser},
		{post, js, `{"query":"{ users(first: 99999999999) { totalCount } }"}`, fuzzSuperuser},
		{post, js, `{"query":"{ users(first: -1) { totalCount } }"}`, fuzzSuperuser},
		{post, js, `{"query":"query($n: Int) { users(first: $n) { totalCount } }","variables":{"n":9223372036854775808}}`, fuzzSuperuser},
		{post, js, `{"query":"{ projects(first: 1.5e300) { totalCount } }"}`, fuzzUser},
		{post, js, `{"query":"mutation { createPage(input: {project: 99999999999999999999, title: \"t\"}) { id } }"}`, fuzzUser},
		// Deep nesting, of the document and of the JSON.
		{post, js, `{"query":"` + deep + `"}`, fuzzUser},
		{post, js, strings.Repeat("[", 20000) + strings.Repeat("]", 20000), fuzzAnonymous},
		{post, js, `{"query":"{ viewer { id } }","variables":{"a":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `}}`, fuzzUser},
		{post, js, `{"query":"{ check(input: {perm: \"a.b\", object: {type: \"T\", id: \"1\", attributes: ` + strings.Repeat("{a: ", 300) + "1" + strings.Repeat("}", 300) + `}}) { allowed } }"}`, fuzzUser},
		// Invalid UTF-8, NUL and control characters.
		{post, js, "{\"query\":\"{ viewer { id \xff\xfe } }\"}", fuzzUser},
		{post, js, "{\"query\":\"{ hasPerm(perm: \\\"projects.view_page\xc3\\\") }\"}", fuzzUser},
		{post, js, "{\"query\":\"{ hasPerm(perm: \\\"projects.\\u0000view\\\") }\"}", fuzzUser},
		{post, js, "\xef\xbb\xbf{\"query\":\"{ viewer { id } }\"}", fuzzAnonymous},
		{get, "", "query=%7Bviewer%7Bid%ff%7D%7D", fuzzAnonymous},
		// Variables of the wrong types.
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{"p":true}}`, fuzzUser},
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{"p":{"id":1}}}`, fuzzUser},
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{"p":null}}`, fuzzUser},
		{post, js, `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{}}`, fuzzUser},
		{post, js, `{"query":"query($i: CheckInput!) { check(input: $i) { allowed } }","variables":{"i":{"perm":7,"project":[1]}}}`, fuzzUser},
		{post, js, `{"query":"query($i: CheckInput!) { check(input: $i) { allowed } }","variables":{"i":{"perm":"projects.view_page","object":{"type":"T","id":"1","attributes":"not an object"}}}}`, fuzzUser},
		{post, js, `{"query":"query($i: CheckInput!) { check(input: $i) { allowed } }","variables":{"i":"projects.view_page"}}`, fuzzUser},
		{post, js, `{"query":"query($f: DecisionLogFilter) { decisionLogs(filter: $f) { totalCount } }","variables":{"f":{"since":"yesterday","reason":"MAYBE"}}}`, fuzzUser},
		// Bad permission names, and content types and methods the
		// endpoint does not serve.
		{post, js, `{"query":"{ hasPerm(perm: \"Projects.View\") }"}`, fuzzUser},
		{post, js, `{"query":"{ hasPerm(perm: \"nope.nope\") }"}`, fuzzUser},
		{post, "text/plain", `{"query":"{ viewer { id } }"}`, fuzzAnonymous},
		{post, "application/graphql", `{ viewer { id } }`, fuzzAnonymous},
		{post, "", `{"query":"{ viewer { id } }"}`, fuzzAnonymous},
		{post, "application/json; charset", `{"query":"{ viewer { id } }"}`, fuzzAnonymous},
		{put, js, `{"query":"{ viewer { id } }"}`, fuzzUser},
		{patch, js, `{"query":"{ viewer { id } }"}`, fuzzSuperuser},
		{post + asGraphQLResponse, js, `{"query":"{ viewer {"}`, fuzzUser},
		{get + asGraphQLResponse, "", `query=mutation{createGroup(name:"h"){id}}`, fuzzSuperuser},
		// Credentials that do not authenticate.
		{post, js, `{"query":"{ viewer { id } }"}`, fuzzUnknownToken},
		{post, js, `{"query":"{ viewer { id } }"}`, fuzzMalformedHeader},
	} {
		f.Add(uint8(s.method), s.contentType, []byte(s.body), s.auth)
	}
	e := newFuzzEndpoint(f)
	f.Fuzz(func(t *testing.T, method uint8, contentType string, body []byte, auth uint8) {
		r := e.request(method, contentType, body, auth)
		req := fmt.Sprintf("%s %s (Content-Type %q, Accept %q, auth %d) %q", r.Method, r.URL, contentType, r.Header.Get("Accept"), auth%fuzzAuthKinds, body)
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, r)
		checkResponse(t, req, requestText(method, body), rec)
	})
}

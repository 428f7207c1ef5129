package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// harness is one in-process grantql server over a fresh database: the HTTP
// handler of cmd/api (graph.NewMux, so bearer tokens go through
// graph.Authenticate), the store and the engine behind it, and an active
// superuser. Setup goes through the engine and the store; the behaviour
// under test goes through GraphQL.
type harness struct {
	t      *testing.T
	ctx    context.Context
	db     *models.DB
	store  *models.Store
	engine *authz.Engine
	mux    http.Handler
	root   actor
}

// actor is a user with a working API token.
type actor struct {
	authz.User
	Token   string // the secret, for `Authorization: Bearer`
	TokenID int64
}

// gid is the actor's GraphQL id.
func (a actor) gid() string { return strconv.FormatInt(a.ID, 10) }

func newHarness(t *testing.T, db *models.DB) *harness {
	t.Helper()
	store := models.NewStore(db)
	// The lists of the statement tests (1,000 pages over 100 projects)
	// cost more than the default complexity limit, which limits_test.go
	// tests on servers of its own.
	return serveHarness(t, db, store, authz.NewEngine(store), graph.WithLimits(graph.Limits{Complexity: 100000}))
}

// serveHarness serves engine and store through graph.NewMux with opts,
// and creates the superuser root.
func serveHarness(t *testing.T, db *models.DB, store *models.Store, engine *authz.Engine, opts ...graph.Option) *harness {
	t.Helper()
	mux, err := graph.NewMux(context.Background(), engine, store, db, opts...)
	if err != nil {
		t.Fatalf("NewMux() = %v", err)
	}
	h := &harness{t: t, ctx: context.Background(), db: db, store: store, engine: engine, mux: mux}
	u, secret, err := store.CreateSuperuser(h.ctx, "root")
	if err != nil {
		t.Fatalf("CreateSuperuser(root) = %v", err)
	}
	h.root = actor{User: u, Token: secret}
	return h
}

// as returns a GraphQL client whose requests carry token; an empty token
// makes anonymous requests.
func (h *harness) as(token string) *client.Client {
	opts := []client.Option{client.Path("/graphql")}
	if token != "" {
		opts = append(opts, client.AddHeader("Authorization", "Bearer "+token))
	}
	return client.New(h.mux, opts...)
}

// response is a GraphQL response as a client sees it, with the HTTP status.
type response struct {
	Status int
	Data   json.RawMessage
	Errors []gqlError
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// pathString joins a GraphQL error path with dots: "project.pages".
func (e gqlError) pathString() string {
	parts := make([]string, len(e.Path))
	for i, p := range e.Path {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ".")
}

func (r response) String() string {
	errs, _ := json.Marshal(r.Errors)
	return fmt.Sprintf("%d data=%s errors=%s", r.Status, r.Data, errs)
}

// do sends query with its variables (name, value, name, value, ...) as the
// owner of token, through client.RawPost.
func (h *harness) do(t *testing.T, token, query string, vars ...any) response {
	t.Helper()
	return h.doWith(t, h.as(token), query, vars...)
}

// doWith sends query with its variables through c.
func (h *harness) doWith(t *testing.T, c *client.Client, query string, vars ...any) response {
	t.Helper()
	var opts []client.Option
	for i := 0; i+1 < len(vars); i += 2 {
		opts = append(opts, client.Var(vars[i].(string), vars[i+1]))
	}
	raw, err := c.RawPost(query, opts...)
	if err != nil {
		// RawPost refuses statuses from 400 on as "http <status>: <body>".
		var status int
		var body string
		if rest, ok := strings.CutPrefix(err.Error(), "http "); ok {
			code, b, _ := strings.Cut(rest, ": ")
			status, _ = strconv.Atoi(code)
			body = b
		}
		var out struct {
			Data   json.RawMessage `json:"data"`
			Errors []gqlError      `json:"errors"`
		}
		if status == 0 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("RawPost(%s) = %v", query, err)
		}
		if out.Data == nil {
			out.Data = json.RawMessage("null")
		}
		return response{Status: status, Data: out.Data, Errors: out.Errors}
	}
	data, err := json.Marshal(raw.Data)
	if err != nil {
		t.Fatal(err)
	}
	res := response{Status: http.StatusOK, Data: data}
	if len(raw.Errors) > 0 {
		if err := json.Unmarshal(raw.Errors, &res.Errors); err != nil {
			t.Fatalf("decode errors %s: %v", raw.Errors, err)
		}
	}
	return res
}

// normJSON re-encodes a JSON document with sorted keys, so that two
// documents compare as strings.
func normJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// wantData asserts a response without errors whose data is want.
func wantData(t *testing.T, query string, got response, want string) {
	t.Helper()
	if got.Status != http.StatusOK || len(got.Errors) != 0 || normJSON(t, string(got.Data)) != normJSON(t, want) {
		t.Errorf("%s = %v, want 200 data=%s and no errors", query, got, normJSON(t, want))
	}
}

// errWant is the one error a response must carry.
type errWant struct {
	code    string
	path    string   // the error's path, dot-joined; "" for a request-level error
	perm    string   // extensions.permission, when the rule is a permission
	project string   // extensions.project
	msg     []string // substrings of the message, naming the problem
}

// wantError asserts a response with exactly the error w, and null data at
// the error's path: the field is null, or (for a non-null field) null
// propagated up to data itself.
func wantError(t *testing.T, query string, got response, w errWant) {
	t.Helper()
	if len(got.Errors) != 1 {
		t.Errorf("%s = %v, want exactly one %s error", query, got, w.code)
		return
	}
	e := got.Errors[0]
	if e.code() != w.code || e.pathString() != w.path {
		t.Errorf("%s = %v, want code %s at path %q", query, got, w.code, w.path)
	}
	if perm, _ := e.Extensions["permission"].(string); perm != w.perm {
		t.Errorf("%s: extensions.permission = %q, want %q", query, perm, w.perm)
	}
	if project, _ := e.Extensions["project"].(string); project != w.project {
		t.Errorf("%s: extensions.project = %q, want %q", query, project, w.project)
	}
	for _, m := range w.msg {
		if !strings.Contains(e.Message, m) {
			t.Errorf("%s: message = %q, want it to contain %q", query, e.Message, m)
		}
	}
	if w.path != "" && !nullAt(got.Data, e.Path) {
		t.Errorf("%s: data = %s, want null at %s", query, got.Data, w.path)
	}
}

// nullAt reports whether data is null at path, or at one of its ancestors.
func nullAt(data json.RawMessage, path []any) bool {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	for _, p := range path {
		if v == nil {
			return true
		}
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if v, ok = m[p]; !ok {
				return false
			}
		case float64:
			l, ok := v.([]any)
			if !ok || int(p) >= len(l) {
				return false
			}
			v = l[int(p)]
		}
	}
	return v == nil
}

// mustUser creates an active user holding perms globally, with a token.
func (h *harness) mustUser(t *testing.T, name string, perms ...string) actor {
	t.Helper()
	return h.mustUserFlags(t, name, true, false, perms...)
}

// mustUserFlags creates a user with the given flags and global perms, with
// a token.
func (h *harness) mustUserFlags(t *testing.T, name string, active, super bool, perms ...string) actor {
	t.Helper()
	u, err := h.engine.CreateUser(h.ctx, dbtest.Name(name), active, super)
	if err != nil {
		t.Fatalf("CreateUser(%s) = %v", name, err)
	}
	for _, p := range perms {
		if err := h.engine.GrantPerm(h.ctx, authz.Holder{User: u.ID}, p); err != nil {
			t.Fatalf("GrantPerm(%s, %s) = %v", u.Username, p, err)
		}
	}
	tok, secret, err := h.store.CreateToken(h.ctx, u.ID, "fixture", nil)
	if err != nil {
		t.Fatalf("CreateToken(%s) = %v", u.Username, err)
	}
	return actor{User: u, Token: secret, TokenID: tok.ID}
}

// mustProject creates a project nobody holds anything in.
func (h *harness) mustProject(t *testing.T, name string) authz.Project {
	t.Helper()
	p, err := h.engine.CreateProject(h.ctx, dbtest.Name(name), 0)
	if err != nil {
		t.Fatalf("CreateProject(%s) = %v", name, err)
	}
	return p
}

// mustGroup creates a group holding perms globally.
func (h *harness) mustGroup(t *testing.T, name string, perms ...string) authz.Group {
	t.Helper()
	g, err := h.engine.CreateGroup(h.ctx, dbtest.Name(name))
	if err != nil {
		t.Fatalf("CreateGroup(%s) = %v", name, err)
	}
	for _, p := range perms {
		if err := h.engine.GrantPerm(h.ctx, authz.Holder{Group: g.ID}, p); err != nil {
			t.Fatalf("GrantPerm(group %s, %s) = %v", g.Name, p, err)
		}
	}
	return g
}

// mustPage creates a page in project.
func (h *harness) mustPage(t *testing.T, project int64, title string) authz.Page {
	t.Helper()
	p, err := h.engine.CreatePage(h.ctx, authz.Page{ProjectID: project, Title: title})
	if err != nil {
		t.Fatalf("CreatePage(%d, %s) = %v", project, title, err)
	}
	return p
}

// grantProject grants perms in project to a user (holder.User) or a group.
func (h *harness) grantProject(t *testing.T, holder authz.Holder, project int64, perms ...string) {
	t.Helper()
	for _, p := range perms {
		if err := h.engine.GrantProjectPerm(h.ctx, holder, p, project); err != nil {
			t.Fatalf("GrantProjectPerm(%+v, %s, %d) = %v", holder, p, project, err)
		}
	}
}

// join adds a user to a group.
func (h *harness) join(t *testing.T, user, group int64) {
	t.Helper()
	if err := h.engine.AddUserToGroup(h.ctx, user, group); err != nil {
		t.Fatalf("AddUserToGroup(%d, %d) = %v", user, group, err)
	}
}

// hasPerm asks the engine, outside any request, whether user holds perm
// globally.
func (h *harness) hasPerm(t *testing.T, user int64, perm string) bool {
	t.Helper()
	d, err := h.engine.HasPerm(h.ctx, user, perm)
	if err != nil {
		t.Fatalf("HasPerm(%d, %s) = %v", user, perm, err)
	}
	return d.Allowed
}

// hasProjectPerm asks the engine whether user holds perm in project.
func (h *harness) hasProjectPerm(t *testing.T, user int64, perm string, project int64) bool {
	t.Helper()
	d, err := h.engine.HasProjectPerm(h.ctx, user, perm, project)
	if err != nil {
		t.Fatalf("HasProjectPerm(%d, %s, %d) = %v", user, perm, project, err)
	}
	return d.Allowed
}

// user loads a user; found is false when it does not exist.
func (h *harness) user(t *testing.T, id int64) (u authz.User, found bool) {
	t.Helper()
	u, err := h.store.User(h.ctx, id)
	if errors.Is(err, authz.ErrNotFound) {
		return u, false
	}
	if err != nil {
		t.Fatalf("User(%d) = %v", id, err)
	}
	return u, true
}

// isMember reports whether user belongs to group.
func (h *harness) isMember(t *testing.T, user, group int64) bool {
	t.Helper()
	groups, err := h.store.UserGroups(h.ctx, []int64{user})
	if err != nil {
		t.Fatalf("UserGroups(%d) = %v", user, err)
	}
	return slices.ContainsFunc(groups[user], func(g authz.Group) bool { return g.ID == group })
}

// groupNamed reports whether a group of that name exists.
func (h *harness) groupNamed(t *testing.T, name string) bool {
	t.Helper()
	var after int64
	for {
		gs, err := h.store.Groups(h.ctx, after, authz.MaxPageSize)
		if err != nil {
			t.Fatalf("Groups(%d) = %v", after, err)
		}
		for _, g := range gs {
			if g.Name == name {
				return true
			}
			after = g.ID
		}
		if len(gs) < authz.MaxPageSize {
			return false
		}
	}
}

// tokens lists a user's tokens.
func (h *harness) tokens(t *testing.T, user int64) []models.Token {
	t.Helper()
	ts, err := h.store.Tokens(h.ctx, user)
	if err != nil {
		t.Fatalf("Tokens(%d) = %v", user, err)
	}
	return ts
}

// gid formats a database id as a GraphQL ID.
func gid(n int64) string { return strconv.FormatInt(n, 10) }

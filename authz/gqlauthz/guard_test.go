package gqlauthz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/authz/gqlauthz/internal/example"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestGuard runs the example's schema: boards(project) guarded through its
// argument, Board.secret through its parent, for a viewer, for a viewer
// without the permission, and anonymously.
func TestGuard(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t, models.SQLite)
	engine := authz.NewEngine(models.NewStore(db))
	alice, err := engine.CreateUser(ctx, "alice", true, false)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := engine.CreateProject(ctx, "one", 0)
	p2, _ := engine.CreateProject(ctx, "two", 0)
	// alice may list the boards of project 1 and read their secrets; in
	// project 2 she may read secrets but not list boards.
	for _, g := range []struct {
		perm    string
		project int64
	}{{"projects.view_project", p1.ID}, {"projects.view_page", p1.ID}, {"projects.view_page", p2.ID}} {
		if err := engine.GrantProjectPerm(ctx, authz.Holder{User: alice.ID}, g.perm, g.project); err != nil {
			t.Fatal(err)
		}
	}
	secret := "s"
	guard := gqlauthz.New(engine,
		func(ctx context.Context) (int64, bool) { id, ok := ctx.Value(viewerKey{}).(int64); return id, ok },
		gqlauthz.WithProjectTypes("Board"))
	schema := example.NewExecutableSchema(example.Config{
		Resolvers: &example.Resolver{Data: []*example.Board{
			{ID: "1", Title: "a", Secret: &secret, ProjectID: p1.ID},
			{ID: "2", Title: "b", Secret: &secret, ProjectID: p2.ID},
		}},
		Directives: example.DirectiveRoot{HasProjectPerm: guard.HasProjectPerm},
	})
	if err := guard.Validate(ctx, schema.Schema()); err != nil {
		t.Fatalf("Validate(example) = %v", err)
	}
	srv := handler.New(schema)
	srv.AddTransport(transport.POST{})

	p1ID, p2ID := strconv.FormatInt(p1.ID, 10), strconv.FormatInt(p2.ID, 10)
	for _, c := range []struct {
		name      string
		anonymous bool
		query     string
		data      string
		code      string // of the one error, "" for none
		path      string
		project   string
	}{
		{name: "argument, allowed", query: `{ boards(project: "` + p1ID + `") { id secret } }`,
			data: `{"boards":[{"id":"1","secret":"s"}]}`},
		{name: "argument, denied", query: `{ boards(project: "` + p2ID + `") { id } }`,
			data: `{"boards":null}`, code: "FORBIDDEN", path: "boards", project: p2ID},
		{name: "argument, anonymous", anonymous: true, query: `{ boards(project: "` + p1ID + `") { id } }`,
			data: `{"boards":null}`, code: "UNAUTHENTICATED", path: "boards"},
		{name: "parent, allowed", query: `{ board(id: "2") { title secret } }`,
			data: `{"board":{"title":"b","secret":"s"}}`},
		{name: "parent, anonymous", anonymous: true, query: `{ board(id: "1") { title secret } }`,
			data: `{"board":{"title":"a","secret":null}}`, code: "UNAUTHENTICATED", path: "board.secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := authz.WithRequestCache(ctx)
			if !c.anonymous {
				ctx = context.WithValue(ctx, viewerKey{}, alice.ID)
			}
			body, _ := json.Marshal(map[string]string{"query": c.query})
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			var res struct {
				Data   json.RawMessage
				Errors []struct {
					Path       []any
					Extensions map[string]any
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatalf("%s = %s: %v", c.query, rec.Body, err)
			}
			if string(res.Data) != c.data {
				t.Errorf("%s: data = %s, want %s", c.query, res.Data, c.data)
			}
			if c.code == "" {
				if len(res.Errors) != 0 {
					t.Errorf("%s = %s, want no errors", c.query, rec.Body)
				}
				return
			}
			if len(res.Errors) != 1 {
				t.Fatalf("%s = %s, want one %s error", c.query, rec.Body, c.code)
			}
			e := res.Errors[0]
			var path []string
			for _, p := range e.Path {
				path = append(path, p.(string))
			}
			project, _ := e.Extensions["project"].(string)
			if e.Extensions["code"] != c.code || strings.Join(path, ".") != c.path || project != c.project {
				t.Errorf("%s: error = %+v, want %s at %s in project %q", c.query, e, c.code, c.path, c.project)
			}
		})
	}
}

package gqlauthz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/authz/gqlauthz/internal/example"
	"github.com/grantql/grantql/models"
)

type viewerKey struct{}

// Example wires the directive into a tiny gqlgen server: boards belong to
// projects, and a board's secret needs projects.view_page in its project.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gqlauthz-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := models.Open(filepath.Join(dir, "example.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	m, err := models.NewMigrator(db)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		log.Fatal(err)
	}

	// The engine and some grants: alice may view pages in project 1 only.
	engine := authz.NewEngine(models.NewStore(db))
	alice, _ := engine.CreateUser(ctx, "alice", true, false)
	p1, _ := engine.CreateProject(ctx, "one", 0)
	p2, _ := engine.CreateProject(ctx, "two", 0)
	for _, p := range []int64{p1.ID, p2.ID} {
		engine.GrantProjectPerm(ctx, authz.Holder{User: alice.ID}, "projects.view_project", p)
	}
	engine.GrantProjectPerm(ctx, authz.Holder{User: alice.ID}, "projects.view_page", p1.ID)

	// The guard: how to find the viewer, and which types belong to a project.
	guard := gqlauthz.New(engine,
		func(ctx context.Context) (int64, bool) { id, ok := ctx.Value(viewerKey{}).(int64); return id, ok },
		gqlauthz.WithProjectTypes("Board"))
	secret := func(s string) *string { return &s }
	schema := example.NewExecutableSchema(example.Config{
		Resolvers: &example.Resolver{Data: []*example.Board{
			{ID: "1", Title: "Roadmap", Secret: secret("launch in May"), ProjectID: p1.ID},
			{ID: "2", Title: "Budget", Secret: secret("over by 3%"), ProjectID: p2.ID},
		}},
		Directives: example.DirectiveRoot{HasProjectPerm: guard.HasProjectPerm},
	})
	if err := guard.Validate(ctx, schema.Schema()); err != nil {
		log.Fatal(err) // a bad use of the directive stops the start
	}
	srv := handler.New(schema)
	srv.AddTransport(transport.POST{})

	// Every request gets a request cache and a viewer (here: alice).
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(authz.WithRequestCache(r.Context()), viewerKey{}, alice.ID)
		srv.ServeHTTP(w, r.WithContext(ctx))
	})
	ts := httptest.NewServer(h)
	defer ts.Close()

	for _, project := range []int64{p1.ID, p2.ID} {
		query := `{"query":"{ boards(project: \"` + strconv.FormatInt(project, 10) + `\") { title secret } }"}`
		res, err := http.Post(ts.URL, "application/json", strings.NewReader(query))
		if err != nil {
			log.Fatal(err)
		}
		var out struct {
			Data   json.RawMessage
			Errors []struct {
				Message    string
				Extensions map[string]any
			}
		}
		json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		fmt.Println(string(out.Data))
		for _, e := range out.Errors {
			fmt.Println(e.Extensions["code"], e.Extensions["permission"])
		}
	}
	// Output:
	// {"boards":[{"title":"Roadmap","secret":"launch in May"}]}
	// {"boards":[{"title":"Budget","secret":null}]}
	// FORBIDDEN projects.view_page
}

package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// The guarded list of TestGuardedListStatements: 1,000 pages over 100
// projects, each page with four guarded fields, each project with
// viewerPermissions and viewerCan.
const (
	benchProjects        = 100
	benchPagesPerProject = 10
)

var benchQuery = fmt.Sprintf(`{ projects(first: %d) { edges { node { viewerPermissions
	viewerCan(perm: "projects.change_page")
	pages(first: %d) { edges { node { id title body createdAt } } } } } } }`, benchProjects, benchPagesPerProject)

// passThrough is @hasProjectPerm without the guard: the unguarded variant
// of the benchmark runs the same schema, resolvers and server.
func passThrough(ctx context.Context, obj any, next graphql.Resolver, perm string, project *string) (any, error) {
	return next(ctx)
}

// BenchmarkGuardedList serves the guarded list to a viewer who may see all
// of it, with the directive (guarded) and with a pass-through directive
// instead (unguarded), on the same data and server settings; guarded over
// unguarded is the cost of the directive, which alternating measures in
// turns. Each request has its own request cache, as Authenticate gives it.
// statements/op counts every SQL statement of a request,
// perm-statements/op those that read grants.
func BenchmarkGuardedList(b *testing.B) {
	for _, dialect := range dbtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			db := dbtest.Open(b, dialect)
			store := models.NewStore(db)
			engine := authz.NewEngine(store)
			viewer := mustBenchList(b, engine)
			// Fresh statistics, so that the planner knows the new rows and
			// autovacuum does not start on them during the runs.
			analyze := "ANALYZE"
			if dialect == models.Postgres {
				analyze = "VACUUM ANALYZE"
			}
			dbtest.MustExec(b, db, analyze)
			// The list costs 6,400, over the default complexity limit.
			limits := WithLimits(Limits{Complexity: 10000})
			guarded, err := NewGraphQLHandler(ctx, engine, store, limits)
			if err != nil {
				b.Fatal(err)
			}
			unguarded := newServer(NewExecutableSchema(Config{
				Resolvers:  &Resolver{Engine: engine, Store: store},
				Directives: DirectiveRoot{HasProjectPerm: passThrough},
			}), limits)
			body, _ := json.Marshal(map[string]string{"query": benchQuery})
			var c models.StatementCounter
			serve := func(srv http.Handler) *httptest.ResponseRecorder {
				ctx := c.WithCounting(WithViewer(authz.WithRequestCache(ctx), viewer))
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %.300s", rec.Code, rec.Body)
				}
				return rec
			}
			checkBenchList(b, serve(guarded))
			checkBenchList(b, serve(unguarded))
			for _, v := range []struct {
				name string
				srv  http.Handler
			}{{"guarded", guarded}, {"unguarded", unguarded}} {
				b.Run(v.name, func(b *testing.B) {
					c.Reset()
					b.ReportAllocs()
					n := 0
					for b.Loop() {
						serve(v.srv)
						n++
					}
					b.ReportMetric(float64(c.Count())/float64(n), "statements/op")
					b.ReportMetric(float64(c.Permissions())/float64(n), "perm-statements/op")
				})
			}
			// alternating serves the two in turns, so that whatever else
			// the machine runs weighs on both alike; its ratio metric is
			// guarded time over unguarded time.
			b.Run("alternating", func(b *testing.B) {
				var tg, tu time.Duration
				for b.Loop() {
					start := time.Now()
					serve(guarded)
					mid := time.Now()
					serve(unguarded)
					tg, tu = tg+mid.Sub(start), tu+time.Since(mid)
				}
				n := float64(b.N)
				b.ReportMetric(float64(tg.Nanoseconds())/n, "guarded-ns/op")
				b.ReportMetric(float64(tu.Nanoseconds())/n, "unguarded-ns/op")
				b.ReportMetric(float64(tg)/float64(tu), "ratio")
			})
		})
	}
}

// mustBenchList makes benchProjects projects of benchPagesPerProject pages,
// and a user who holds projects.view_project and projects.view_page in all
// of them, and returns that user.
func mustBenchList(b *testing.B, engine *authz.Engine) authz.User {
	b.Helper()
	ctx := context.Background()
	u, err := engine.CreateUser(ctx, "lister", true, false)
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchProjects {
		p, err := engine.CreateProject(ctx, fmt.Sprintf("list %03d", i), 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, perm := range []string{authz.PermViewProject, authz.PermViewPage} {
			if err := engine.GrantProjectPerm(ctx, authz.Holder{User: u.ID}, perm, p.ID); err != nil {
				b.Fatal(err)
			}
		}
		for j := range benchPagesPerProject {
			if _, err := engine.CreatePage(ctx, authz.Page{ProjectID: p.ID, Title: fmt.Sprintf("page %03d-%02d", i, j), Body: "body"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return u
}

// checkBenchList fails the benchmark unless the answer holds every page
// with its title and no error.
func checkBenchList(b *testing.B, rec *httptest.ResponseRecorder) {
	b.Helper()
	var res struct {
		Data struct {
			Projects struct {
				Edges []struct {
					Node struct {
						Pages struct {
							Edges []struct{ Node struct{ Title *string } }
						}
					}
				}
			}
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Errors) > 0 {
		b.Fatalf("guarded list = %d %.300s, want no errors", rec.Code, rec.Body)
	}
	titles := 0
	for _, e := range res.Data.Projects.Edges {
		for _, pe := range e.Node.Pages.Edges {
			if pe.Node.Title != nil {
				titles++
			}
		}
	}
	if titles != benchProjects*benchPagesPerProject {
		b.Fatalf("guarded list = %d titles, want %d", titles, benchProjects*benchPagesPerProject)
	}
}

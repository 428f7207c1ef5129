package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/models"
	"github.com/vektah/gqlparser/v2/ast"
)

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// readyTimeout bounds /readyz's database ping, so that a hung database
// shows as not ready rather than as a hung probe.
const readyTimeout = 2 * time.Second

// queryCacheSize is how many parsed queries the server keeps: a frontend
// sends a few dozen distinct documents, so a thousand covers many clients.
const queryCacheSize = 1000

// NewGraphQLHandler returns the GraphQL endpoint over engine and store,
// with POST and GET transports, the @hasProjectPerm guard and the error
// presenter. It refuses a schema whose uses of @hasProjectPerm do not
// validate, naming each bad use.
func NewGraphQLHandler(ctx context.Context, engine *authz.Engine, store *models.Store) (http.Handler, error) {
	guard := NewGuard(engine, store)
	schema := NewExecutableSchema(Config{
		Resolvers:  &Resolver{Engine: engine, Store: store},
		Directives: DirectiveRoot{HasProjectPerm: guard.HasProjectPerm},
	})
	if err := guard.Validate(ctx, schema.Schema()); err != nil {
		return nil, err
	}
	return newServer(schema), nil
}

// newServer serves schema with the transports, caches, extensions and
// error handling of the GraphQL endpoint.
func newServer(schema graphql.ExecutableSchema) *handler.Server {
	srv := handler.New(schema)
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.SetErrorPresenter(PresentError)
	srv.SetRecoverFunc(RecoverPanic)
	// Decision logs say which field made a check: resolvers' own checks
	// are logged with their field (the directive names its field itself).
	srv.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc != nil && fc.IsResolver {
			ctx = authz.WithLogSource(ctx, fc.Object+"."+fc.Field.Name)
		}
		return next(ctx)
	})
	return srv
}

// NewGuard returns the @hasProjectPerm guard of grantql's schema: Project
// and Page belong to projects, and the page mutations find their project
// through the page they name.
func NewGuard(engine *authz.Engine, store *models.Store) *gqlauthz.Guard {
	viewer := func(ctx context.Context) (int64, bool) {
		u, ok := ViewerFrom(ctx)
		return u.ID, ok
	}
	return gqlauthz.New(engine, viewer,
		gqlauthz.WithProjectTypes("Project", "Page"),
		gqlauthz.WithFieldProject("Mutation.deletePage", pageProject(store)),
		gqlauthz.WithFieldProject("Mutation.updatePage", pageProject(store)),
		gqlauthz.WithFieldProject("Mutation.publishPage", pageProject(store)))
}

// NewMux returns the service's routes: the GraphiQL page at /, the API at
// /graphql (behind bearer-token authentication), /healthz (the process is
// up) and /readyz (the database answers; 503 otherwise).
func NewMux(ctx context.Context, engine *authz.Engine, store *models.Store, db Pinger) (*http.ServeMux, error) {
	gql, err := NewGraphQLHandler(ctx, engine, store)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", playground.Handler("grantql", "/graphql"))
	mux.Handle("/graphql", Authenticate(engine.SharedCache().Tokens(store), gql))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			http.Error(w, "database unreachable\n", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux, nil
}

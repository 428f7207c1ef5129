package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/grantql/grantql/authz"
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
// with POST and GET transports and the error presenter.
func NewGraphQLHandler(engine *authz.Engine, store *models.Store) http.Handler {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{Engine: engine, Store: store}}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.SetErrorPresenter(PresentError)
	srv.SetRecoverFunc(RecoverPanic)
	return srv
}

// NewMux returns the service's routes: the GraphiQL page at /, the API at
// /graphql (behind bearer-token authentication), /healthz (the process is
// up) and /readyz (the database answers; 503 otherwise).
func NewMux(engine *authz.Engine, store *models.Store, db Pinger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", playground.Handler("grantql", "/graphql"))
	mux.Handle("/graphql", Authenticate(store, NewGraphQLHandler(engine, store)))
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
	return mux
}

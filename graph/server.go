package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/grantql/grantql/graph/graphiql"
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

// Option configures the GraphQL endpoint and the routes of NewMux.
type Option func(*options)

type options struct {
	limits        Limits
	development   bool
	introspection bool
	metrics       *Metrics
	corsOrigins   []string     // the exact origins whose browsers may call; none by default
	logger        *slog.Logger // nil: no request lines, panics to slog.Default()
	authn         authn.Authenticator
}

func newOptions(opts []Option) *options {
	o := &options{introspection: true}
	for _, opt := range opts {
		opt(o)
	}
	o.limits = o.limits.withDefaults()
	return o
}

// panicLogger is the logger of panics: the request logger, or the default
// one; either adds the request id.
func (o *options) panicLogger() *slog.Logger {
	if o.logger != nil {
		return o.logger
	}
	return slog.New(LogHandler(slog.Default().Handler()))
}

// WithAuthenticator says who callers are (default: API tokens only,
// authn.New of the engine and store).
func WithAuthenticator(a authn.Authenticator) Option { return func(o *options) { o.authn = a } }

// WithLimits sets the limits of requests; its zero fields keep their
// defaults.
func WithLimits(l Limits) Option { return func(o *options) { o.limits = l } }

// WithDevelopment turns on, when dev is true, what only developers should
// see: field suggestions in validation errors ("Did you mean ...?"), which
// otherwise let anyone map the schema with introspection off.
func WithDevelopment(dev bool) Option { return func(o *options) { o.development = dev } }

// WithIntrospection turns introspection (__schema, __type) on or off; it
// is on by default, and an introspection query sent while it is off is
// refused with BAD_USER_INPUT before anything runs.
func WithIntrospection(on bool) Option { return func(o *options) { o.introspection = on } }

// WithMetrics counts requests, their latency per operation and their
// statuses in m, and serves m at GET /metrics.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithLogger writes a line per request to l (request id, method, path,
// status, duration and, for a GraphQL operation, the viewer, the
// operation's name and type; probes and scrapes at debug level, the rest
// at info), and the stacks of panics. Without it, or with a nil l, there
// are no request lines, and panics go to the default logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = slog.New(LogHandler(l.Handler()))
		}
	}
}

// NewGraphQLHandler returns the GraphQL endpoint over engine and store,
// with POST and GET transports, the @hasProjectPerm guard, the limits of
// requests and the error presenter. It refuses a schema whose uses of
// @hasProjectPerm do not validate, naming each bad use, and one with an
// object type that has no visibility rule. The limits of the
// body and of the request's time are NewMux's.
func NewGraphQLHandler(ctx context.Context, engine *authz.Engine, store *models.Store, opts ...Option) (http.Handler, error) {
	o := newOptions(opts)
	guard := NewGuard(engine, store)
	schema := NewExecutableSchema(Config{
		Resolvers:  &Resolver{Engine: engine, Store: store, Limits: o.limits},
		Directives: DirectiveRoot{HasProjectPerm: guard.HasProjectPerm},
	})
	if err := guard.Validate(ctx, schema.Schema()); err != nil {
		return nil, err
	}
	vis, err := newVisibility(engine, store, schema.Schema())
	if err != nil {
		return nil, err
	}
	srv := o.newServer(schema)
	// Inside the authentication of newServer: the viewer is known.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withMemberMemo(ctx))
	})
	srv.AroundFields(vis.aroundFields)
	return withErrorCodes(srv), nil
}

// newServer serves schema with the transports, caches, extensions and
// error handling of the GraphQL endpoint, and the limits of opts.
func newServer(schema graphql.ExecutableSchema, opts ...Option) *handler.Server {
	return newOptions(opts).newServer(schema)
}

func (o *options) newServer(schema graphql.ExecutableSchema) *handler.Server {
	srv := handler.New(pagedSchema{schema})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(jsonPOST{})
	srv.AddTransport(unsupportedRequest{})
	cache := lru.New[*ast.QueryDocument](queryCacheSize)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(o.limits.ParserTokens)
	srv.SetDisableSuggestion(!o.development)
	if o.introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(&limitsExtension{limits: o.limits, introspection: o.introspection})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	// After the persisted queries, so that it sees the query they found.
	srv.Use(&mergeGuard{cache: cache, parserTokens: o.limits.ParserTokens})
	srv.SetErrorPresenter(PresentError)
	logger := o.panicLogger()
	srv.SetRecoverFunc(func(ctx context.Context, p any) error { return recoverPanic(ctx, logger, p) })
	// The bearer token is looked up before any resolver runs; the request's
	// log line and metrics name its operation and viewer.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		ctx, err := AuthenticateOperation(ctx)
		if err != nil {
			// Authenticate replaces this answer with the refusal.
			return graphql.OneShot(graphql.ErrorResponse(ctx, "the bearer token was refused"))
		}
		if info := requestInfoFrom(ctx); info != nil {
			op := graphql.GetOperationContext(ctx).Operation
			info.operation, info.opType, info.viewer = op.Name, string(op.Operation), viewerID(ctx)
		}
		return next(ctx)
	})
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

// NewMux returns the service's routes: the GraphiQL page at / (its files,
// embedded in the binary, under /graphiql/), the API at
// /graphql (behind bearer-token authentication, with the limits of
// requests and a deadline), /healthz (the process is up), /readyz (the
// database answers; 503 otherwise) and, given WithMetrics, /metrics.
// Every route gets a request id (X-Request-Id), answers the preflights of
// cross-origin requests (WithCORSOrigins), and a panic answers a bare
// INTERNAL error.
func NewMux(ctx context.Context, engine *authz.Engine, store *models.Store, db Pinger, opts ...Option) (http.Handler, error) {
	o := newOptions(opts)
	gql, err := NewGraphQLHandler(ctx, engine, store, opts...)
	if err != nil {
		return nil, err
	}
	authenticator := o.authn
	if authenticator == nil {
		authenticator = authn.New(engine, store)
	}
	mux := http.NewServeMux()
	page := graphiql.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+graphiql.AssetsPath, page)
	mux.Handle("/graphql", withDeadline(o.limits.RequestTimeout,
		limitBody(o.limits.BodyBytes, Authenticate(authenticator, gql))))
	if o.metrics != nil {
		mux.Handle("GET /metrics", o.metrics.Handler())
	}
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
	return o.observe(o.cors(recoverPanics(o.panicLogger(), mux))), nil
}

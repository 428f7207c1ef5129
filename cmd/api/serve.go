package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/models"
)

// Timeouts of the HTTP server. readHeaderTimeout bounds a client that
// trickles its headers to hold a connection; readTimeout a whole request,
// body included (a 1 MiB body at 100 KB/s takes ten seconds); idleTimeout
// how long a kept-alive connection waits for its next request, long enough
// for a client's pool to reuse it between bursts. The write timeout runs
// from the end of the headers to the end of the response, so it is the
// request timeout plus writeMargin, the time to write a response whose
// work the request deadline cut short.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 15 * time.Second
	idleTimeout       = 2 * time.Minute
	writeMargin       = 10 * time.Second
)

// defaultShutdownTimeout is how long a stopping server has, from the
// signal, to finish the requests in flight and then to write the decision
// logs still queued; logs not written by then are spilled to the spool,
// which takes well under a second even for a full queue of 10,000, so the
// process ends within an orchestrator's default grace period of 30
// seconds. It is long enough for any check (the request timeout is 10
// seconds) and for the writer to drain a full queue into a healthy
// database several times over.
const defaultShutdownTimeout = 25 * time.Second

// gcPercent is the garbage collector's target that serve sets when the
// GOGC environment variable sets none: the heap may grow to three times
// what is live between collections, not two. A warm check allocates some
// 16 KB and keeps none of it, so collecting half as often bought 15% to
// 30% more warm checks a second (docs/benchmarks.md) for some 20 to 40 MiB
// more resident memory at the default cache size; GOGC=100 restores Go's
// default.
const gcPercent = 200

// firstAdmin is the superuser serve creates on its first start against an
// empty database.
const firstAdmin = "admin"

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	fs.StringVar(&cfg.addr, "addr", env("GRANTQL_ADDR", defaultAddr), "address to listen on (env GRANTQL_ADDR)")
	fs.IntVar(&cfg.dbMaxConns, "db-max-conns", envInt("GRANTQL_DB_MAX_CONNS", 0),
		"the most database connections open at once; 0: 4 per CPU (GOMAXPROCS) on PostgreSQL, 8 on SQLite (env GRANTQL_DB_MAX_CONNS)")
	fs.StringVar(&cfg.debugAddr, "debug-addr", env("GRANTQL_DEBUG_ADDR", ""),
		"a loopback address on which to serve Go's profiles at /debug/pprof/; empty: none (env GRANTQL_DEBUG_ADDR)")
	fs.BoolVar(&cfg.autoMigrate, "migrate", parseBool("GRANTQL_MIGRATE", true),
		"apply pending migrations at start-up (env GRANTQL_MIGRATE)")
	shutdownTimeout := fs.Duration("shutdown-timeout", envDuration("GRANTQL_SHUTDOWN_TIMEOUT", defaultShutdownTimeout),
		"how long a stopping server finishes requests and writes decision logs before it spills the rest to the spool (env GRANTQL_SHUTDOWN_TIMEOUT)")
	cfg.engineFlags(fs)
	cfg.apiFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validateEngine(); err != nil {
		return err
	}
	if err := cfg.validateAPI(); err != nil {
		return err
	}
	lines := newLogBuffer(stderr, logFlushEvery)
	defer lines.Close()
	log, err := cfg.logger(lines, func(h slog.Handler) slog.Handler { return flushingHandler{Handler: h, buf: lines} })
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	if cfg.debugAddr != "" {
		stopDebug, err := startDebug(cfg.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	if cfg.dbMaxConns < 0 {
		return fmt.Errorf("db max conns %d: want 0 (the default) or more", cfg.dbMaxConns)
	}
	if *shutdownTimeout <= 0 {
		return fmt.Errorf("shutdown timeout %s: want more than 0", *shutdownTimeout)
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	}
	db, err := models.Open(cfg.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.dbMaxConns > 0 {
		db.SQL().SetMaxOpenConns(cfg.dbMaxConns)
		db.SQL().SetMaxIdleConns(cfg.dbMaxConns)
	}
	if cfg.autoMigrate {
		m, err := models.NewMigrator(db)
		if err != nil {
			return err
		}
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		log.Info("migrations applied", "count", n, "dialect", db.Dialect)
	}
	store := models.NewStore(db)
	spool, err := authz.NewLogSpool(spoolDirFor(cfg.spoolDir, db), db.Identity())
	if err != nil {
		return fmt.Errorf("%w (set --decision-log-spool)", err)
	}
	replaySpool(ctx, spool, store, log)
	logs := authz.NewLogWriter(store, authz.LogWriterConfig{QueueSize: cfg.queueSize,
		AllowedSampleRate: cfg.sampleRate, Logger: log, Spool: spool})
	// Whatever happens below, every queued decision log is written or
	// spilled before serve returns: after the HTTP server has stopped
	// accepting requests and finished those in flight on a clean shutdown
	// (stopBy is then the shutdown's deadline), at once on an error.
	var stopBy time.Time
	defer func() {
		if stopBy.IsZero() {
			stopBy = time.Now().Add(*shutdownTimeout)
		}
		cctx, cancel := context.WithDeadline(context.Background(), stopBy)
		defer cancel()
		if err := logs.Close(cctx); err != nil {
			log.Error("flush decision logs", "error", err)
		}
		// A warning when logs could not be written in time, so that it
		// shows at every log level but error.
		st, level := logs.Stats(), slog.LevelInfo
		if st.Spilled > 0 || st.Failed > 0 {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "decision log writer stopped", "written", st.Written, "spilled", st.Spilled,
			"lost", st.Failed, "sampled_out", st.SampledOut)
	}()
	stopRetention := authz.StartRetention(ctx, store, cfg.retentionDays, time.Hour)
	defer stopRetention()
	metrics := graph.NewMetrics()
	opts := []authz.Option{authz.WithVerbosity(cfg.verbosity), authz.WithLogSink(logs), authz.WithDecisionLogRate(cfg.logRate),
		authz.WithRuleStore(store), authz.WithUniversalOLP(cfg.universalOLP), authz.WithObserver(metrics),
		authz.WithRuleSteps(cfg.ruleSteps), authz.WithRuleTimeout(cfg.ruleTimeout), authz.WithRuleRequestTime(cfg.ruleTime)}
	if cfg.cacheSize > 0 {
		cache := authz.NewSharedCache(cfg.cacheSize, log)
		stopCache := cache.Start(ctx, store, cfg.cachePoll)
		defer stopCache()
		opts = append(opts, authz.WithSharedCache(cache))
	}
	engine := authz.NewEngine(store, opts...)
	if err := engine.Registry().Refresh(ctx); err != nil {
		return fmt.Errorf("load the permission registry: %w", err)
	}
	metrics.WatchSharedCache(engine)
	metrics.WatchDecisionLogs(logs)
	metrics.WatchDatabase(db.SQL())
	authenticator, stopUsage, err := newAuthenticator(ctx, cfg, engine, store, log)
	if err != nil {
		return err
	}
	// Deferred after the database's close, so run before it: the last
	// uses of API tokens are written at shutdown.
	defer stopUsage()
	mux, err := graph.NewMux(ctx, engine, store, db, graph.WithLimits(cfg.limits),
		graph.WithDevelopment(cfg.development), graph.WithIntrospection(cfg.introspection),
		graph.WithMetrics(metrics), graph.WithLogger(log), graph.WithCORSOrigins(cfg.corsOrigins),
		graph.WithAuthenticator(authenticator))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := ensureFirstAdmin(ctx, store, "http://"+ln.Addr().String()+"/graphql", stdout); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      cfg.limits.RequestTimeout + writeMargin,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	log.Info("serving", "url", "http://"+ln.Addr().String()+"/", "graphql", "http://"+ln.Addr().String()+"/graphql",
		"metrics", "http://"+ln.Addr().String()+"/metrics", "dialect", db.Dialect)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// The listener closes first, so that no check starts that the log
	// writer might not be able to record; then the requests in flight
	// finish; then (deferred above) the writer flushes its queue until
	// stopBy, and spills what is left.
	stopBy = time.Now().Add(*shutdownTimeout)
	sctx, cancel := context.WithDeadline(context.Background(), stopBy)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running now answer nothing: their checks' logs
		// are refused (the writer is closing) and they fail closed.
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// usageGrace is how long the last flush of API tokens' last use may take
// at shutdown.
const usageGrace = 5 * time.Second

// newAuthenticator returns who callers may be: API tokens, whose last use
// is written every cfg.tokenUseFlush until stop is called (which writes
// the last ones), and the JWTs of the issuers of cfg.oidcConfig, whose
// keys are fetched now.
func newAuthenticator(ctx context.Context, cfg config, engine *authz.Engine, store *models.Store, log *slog.Logger) (a *authn.Service, stop func(), err error) {
	opts := []authn.Option{}
	if cfg.oidcConfig != "" {
		oc, err := authn.LoadConfig(cfg.oidcConfig)
		if err != nil {
			return nil, nil, fmt.Errorf("--oidc-config: %w", err)
		}
		issuers := make([]*authn.Issuer, 0, len(oc.Issuers))
		for _, ic := range oc.Issuers {
			iss, err := authn.NewIssuer(ctx, ic, nil, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("--oidc-config: %w", err)
			}
			issuers = append(issuers, iss)
			log.Info("accepting JWTs", "issuer", iss.Name())
		}
		opts = append(opts, authn.WithIssuers(store, issuers...))
	}
	usage := authn.NewTokenUsage(store, log)
	uctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		usage.Run(uctx, cfg.tokenUseFlush, usageGrace)
	}()
	stop = func() {
		cancel()
		<-done
	}
	return authn.New(engine, store, append(opts, authn.WithTokenUsage(usage))...), stop, nil
}

// spoolDirFor returns the decision log spool's directory: dir when set;
// else, for SQLite, the directory of the database file, which is where the
// service's state already lives and goes wherever the file goes; else
// (PostgreSQL) the working directory, where the default SQLite file would
// be. Not a cache directory: caches may be wiped at any time, and the
// spool holds logs that exist nowhere else.
func spoolDirFor(dir string, db *models.DB) string {
	if dir != "" {
		return dir
	}
	if f := db.File(); f != "" {
		return filepath.Dir(f)
	}
	return "."
}

// replaySpool stores the decision logs an earlier run spilled, before the
// service serves. A replay that fails keeps its files for the next start
// and does not stop this one: the logs are safe where they are.
func replaySpool(ctx context.Context, spool *authz.LogSpool, store *models.Store, log *slog.Logger) {
	r, err := spool.Replay(ctx, store)
	if err != nil {
		log.Error("decision log spool: replay failed; the files left are replayed at the next start",
			"spool", spool.Dir(), "replayed_files", r.Files, "stored", r.Stored, "error", err)
		return
	}
	if r.Files > 0 {
		log.Warn("decision log spool replayed: logs an earlier shutdown could not write are stored",
			"spool", spool.Dir(), "files", r.Files, "logs", r.Logs, "stored", r.Stored, "already_stored", r.Present)
	}
}

// ensureFirstAdmin creates the superuser "admin" when the database has no
// user at all, and prints its token once. Another instance starting at the
// same moment may win the race; that is not an error.
func ensureFirstAdmin(ctx context.Context, store *models.Store, endpoint string, stdout io.Writer) error {
	n, err := store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, token, err := store.CreateSuperuser(ctx, firstAdmin)
	if errors.Is(err, authz.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "First start: created the superuser %q. Its API token is shown only now:\n\n    %s\n\n"+
		"Try: curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"+
		"       -d '{\"query\":\"{ viewer { username isSuperuser } }\"}' %s\n\n", firstAdmin, token, token, endpoint)
	return nil
}

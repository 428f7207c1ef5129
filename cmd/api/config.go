package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
)

// config is the service's configuration: each setting is a flag whose
// default comes from an environment variable.
type config struct {
	addr        string
	debugAddr   string // where serve serves profiles; empty: nowhere
	dbMaxConns  int    // serve's connection pool bound; 0: the dialect's default
	databaseURL string
	logLevel    string
	logFormat   string
	autoMigrate bool

	verbosity     int
	sampleRate    float64
	retentionDays int
	queueSize     int
	spoolDir      string  // where undelivered decision logs go; "": spoolDirFor's default
	logRate       float64 // decision logs a second per caller; 0: unbounded
	universalOLP  bool
	ruleSteps     int64         // CEL steps one request's rules may take
	ruleTimeout   time.Duration // how long one rule's evaluation may run
	ruleTime      time.Duration // how long one request's rules may run

	cacheSize int
	cachePoll time.Duration

	limits        graph.Limits
	development   bool
	introspection bool
	corsList      string   // --cors-origins as given
	corsOrigins   []string // corsList parsed by validateAPI

	oidcConfig    string        // the file of JWT issuers' settings; "": API tokens only
	tokenUseFlush time.Duration // how often API tokens' last use is written
}

// Defaults: loopback only, so that a fresh `make run` is not reachable from
// the network; an SQLite file in the working directory, so that it needs no
// database server.
const (
	defaultAddr        = "127.0.0.1:8080"
	defaultDatabaseURL = "grantql.db"
)

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

// flags registers the settings every command shares on fs.
func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", defaultDatabaseURL),
		"database: a postgres:// URL, or an SQLite file path (env DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", env("GRANTQL_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env GRANTQL_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("GRANTQL_LOG_FORMAT", "text"), "log format: text or json (env GRANTQL_LOG_FORMAT)")
}

// logger builds the slog logger the settings describe, writing to w
// through wrap (nil: none), a handler of the process's own. Every line
// logged with a request's context carries its request id once: the
// request id handler is the outermost, so that graph.WithLogger finds it
// and does not add a second.
func (c *config) logger(w io.Writer, wrap func(slog.Handler) slog.Handler) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(c.logFormat) {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", c.logFormat)
	}
	if wrap != nil {
		h = wrap(h)
	}
	return slog.New(graph.LogHandler(h)), nil
}

// engineFlags registers the settings of decisions and decision logs.
func (c *config) engineFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.verbosity, "decision-log-verbosity", envInt("GRANTQL_DECISION_LOG_VERBOSITY", 1),
		"decision logs: 0 keeps none, 1 the automatic lines, 2 adds a header (env GRANTQL_DECISION_LOG_VERBOSITY)")
	fs.Float64Var(&c.sampleRate, "decision-log-sample", envFloat("GRANTQL_DECISION_LOG_SAMPLE", 1),
		"fraction of allowed decisions whose logs are kept; denied ones always are (env GRANTQL_DECISION_LOG_SAMPLE)")
	fs.IntVar(&c.retentionDays, "decision-log-retention-days", envInt("GRANTQL_DECISION_LOG_RETENTION_DAYS", 90),
		"days decision logs are kept; 0 keeps them forever (env GRANTQL_DECISION_LOG_RETENTION_DAYS)")
	fs.IntVar(&c.queueSize, "decision-log-queue", envInt("GRANTQL_DECISION_LOG_QUEUE", 10000),
		"decision logs waiting to be written before checks wait for the writer (env GRANTQL_DECISION_LOG_QUEUE)")
	fs.StringVar(&c.spoolDir, "decision-log-spool", env("GRANTQL_DECISION_LOG_SPOOL", ""),
		"directory for decision logs the database could not take by shutdown, stored at the next start; "+
			"default: the SQLite file's directory, or the working directory with PostgreSQL (env GRANTQL_DECISION_LOG_SPOOL)")
	fs.Float64Var(&c.logRate, "decision-log-rate", envFloat("GRANTQL_DECISION_LOG_RATE", authz.DefaultDecisionLogRate),
		"decision logs a second per caller, with a burst of 10 seconds' worth; 0 leaves them unbounded (env GRANTQL_DECISION_LOG_RATE)")
	fs.BoolVar(&c.universalOLP, "universal-olp", parseBool("GRANTQL_UNIVERSAL_OLP", false),
		"run object-level rules for superusers too (env GRANTQL_UNIVERSAL_OLP)")
	fs.Int64Var(&c.ruleSteps, "max-rule-steps", int64(envInt("GRANTQL_MAX_RULE_STEPS", authz.DefaultRuleSteps)),
		"the CEL steps all the rules of one request may take together; a rule past them denies (env GRANTQL_MAX_RULE_STEPS)")
	fs.DurationVar(&c.ruleTimeout, "rule-timeout", envDuration("GRANTQL_RULE_TIMEOUT", authz.DefaultRuleTimeout),
		"how long one rule's evaluation may run before it is stopped and denies (env GRANTQL_RULE_TIMEOUT)")
	fs.DurationVar(&c.ruleTime, "max-rule-time", envDuration("GRANTQL_MAX_RULE_TIME", authz.DefaultRuleRequestTime),
		"how long all the rules of one request may run together; a rule past it denies (env GRANTQL_MAX_RULE_TIME)")
	fs.IntVar(&c.cacheSize, "cache-size", envInt("GRANTQL_CACHE_SIZE", authz.DefaultCacheEntries),
		"entries of the shared permission cache; 0 turns it off (env GRANTQL_CACHE_SIZE)")
	fs.DurationVar(&c.cachePoll, "cache-poll", envDuration("GRANTQL_CACHE_POLL", defaultCachePoll),
		"how often the cache reads the revision, besides listening for it (env GRANTQL_CACHE_POLL)")
}

// apiFlags registers the settings of the GraphQL endpoint: the limits of
// requests, development mode and introspection.
func (c *config) apiFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.limits.Depth, "max-depth", envInt("GRANTQL_MAX_DEPTH", graph.DefaultDepth),
		"how deeply a query's selection sets may nest (env GRANTQL_MAX_DEPTH)")
	fs.IntVar(&c.limits.Complexity, "max-complexity", envInt("GRANTQL_MAX_COMPLEXITY", graph.DefaultComplexity),
		"the most a query may cost: 1 a field, first times its selection for a paginated one (env GRANTQL_MAX_COMPLEXITY)")
	fs.IntVar(&c.limits.ParserTokens, "max-tokens", envInt("GRANTQL_MAX_TOKENS", graph.DefaultParserTokens),
		"the most tokens a query document may hold (env GRANTQL_MAX_TOKENS)")
	fs.Int64Var(&c.limits.BodyBytes, "max-body-bytes", int64(envInt("GRANTQL_MAX_BODY_BYTES", graph.DefaultBodyBytes)),
		"the largest request body, in bytes (env GRANTQL_MAX_BODY_BYTES)")
	fs.IntVar(&c.limits.CheckMany, "max-check-many", envInt("GRANTQL_MAX_CHECK_MANY", graph.DefaultCheckMany),
		"the most checks one operation may ask: every checkMany's inputs and every check, hasPerm and hasProjectPerm field, all aliases (env GRANTQL_MAX_CHECK_MANY)")
	fs.DurationVar(&c.limits.RequestTimeout, "request-timeout", envDuration("GRANTQL_REQUEST_TIMEOUT", graph.DefaultRequestTimeout),
		"how long a request may take before its checks answer UNAVAILABLE (env GRANTQL_REQUEST_TIMEOUT)")
	fs.BoolVar(&c.development, "dev", parseBool("GRANTQL_DEV", false),
		"development mode: validation errors suggest field names (env GRANTQL_DEV)")
	fs.BoolVar(&c.introspection, "introspection", parseBool("GRANTQL_INTROSPECTION", true),
		"answer introspection queries (__schema, __type) (env GRANTQL_INTROSPECTION)")
	fs.StringVar(&c.corsList, "cors-origins", env("GRANTQL_CORS_ORIGINS", ""),
		"comma-separated exact origins (scheme://host[:port]) whose browser pages may call the API; none by default, \"*\" refused (env GRANTQL_CORS_ORIGINS)")
	fs.StringVar(&c.oidcConfig, "oidc-config", env("GRANTQL_OIDC_CONFIG", ""),
		"a JSON file of the OIDC/JWT issuers whose tokens are accepted beside API tokens; docs/authentication.md (env GRANTQL_OIDC_CONFIG)")
	fs.DurationVar(&c.tokenUseFlush, "token-use-flush", envDuration("GRANTQL_TOKEN_USE_FLUSH", authn.DefaultUsageFlush),
		"how often API tokens' lastUsedAt is written, in one statement; also at shutdown (env GRANTQL_TOKEN_USE_FLUSH)")
}

// validateAPI reports a limit out of range or a CORS origin that is not
// one, and parses the CORS origins.
func (c *config) validateAPI() error {
	origins, err := graph.ParseCORSOrigins(c.corsList)
	if err != nil {
		return err
	}
	c.corsOrigins = origins
	l := c.limits
	switch {
	case l.Depth < 1:
		return fmt.Errorf("max depth %d: want 1 or more", l.Depth)
	case l.Complexity < 1:
		return fmt.Errorf("max complexity %d: want 1 or more", l.Complexity)
	case l.ParserTokens < 1:
		return fmt.Errorf("max tokens %d: want 1 or more", l.ParserTokens)
	case l.BodyBytes < 1:
		return fmt.Errorf("max body bytes %d: want 1 or more", l.BodyBytes)
	case c.tokenUseFlush <= 0:
		return fmt.Errorf("token use flush %s: want more than 0", c.tokenUseFlush)
	case l.CheckMany < 1:
		return fmt.Errorf("max checkMany %d: want 1 or more", l.CheckMany)
	case l.RequestTimeout < time.Millisecond:
		return fmt.Errorf("request timeout %s: want 1ms or more", l.RequestTimeout)
	}
	return nil
}

// defaultCachePoll is the fallback poll of the shared cache's revision:
// PostgreSQL pushes every revision at once, so the poll only bounds how
// long a lost notification could go unseen; on SQLite it is how soon a
// write by another process (such as createsuperuser) is seen.
const defaultCachePoll = time.Second

// validateEngine reports a setting out of range.
func (c *config) validateEngine() error {
	switch {
	case c.verbosity < 0 || c.verbosity > 2:
		return fmt.Errorf("decision log verbosity %d: want 0, 1 or 2", c.verbosity)
	case c.sampleRate <= 0 || c.sampleRate > 1:
		return fmt.Errorf("decision log sample %g: want a fraction in (0, 1]", c.sampleRate)
	case c.retentionDays < 0:
		return fmt.Errorf("decision log retention %d days: want 0 or more", c.retentionDays)
	case c.queueSize < 1:
		return fmt.Errorf("decision log queue %d: want 1 or more", c.queueSize)
	case c.logRate < 0:
		return fmt.Errorf("decision log rate %g: want 0 (unbounded) or more", c.logRate)
	case c.cacheSize < 0:
		return fmt.Errorf("cache size %d: want 0 (off) or more", c.cacheSize)
	case c.cachePoll < 10*time.Millisecond:
		return fmt.Errorf("cache poll %s: want 10ms or more", c.cachePoll)
	case c.ruleSteps < 1:
		return fmt.Errorf("max rule steps %d: want 1 or more", c.ruleSteps)
	case c.ruleTimeout < time.Millisecond:
		return fmt.Errorf("rule timeout %s: want 1ms or more", c.ruleTimeout)
	case c.ruleTime < time.Millisecond:
		return fmt.Errorf("max rule time %s: want 1ms or more", c.ruleTime)
	}
	return nil
}

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return fallback
}

func envDuration(name string, fallback time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return fallback
}

func envFloat(name string, fallback float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return fallback
}

func parseBool(name string, fallback bool) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return fallback
}

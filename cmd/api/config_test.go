package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestAPIFlags: the limits, development mode, introspection and the CORS
// origins come from flags, whose defaults come from the environment, and
// a limit below 1 or an origin that is not exact is refused.
func TestAPIFlags(t *testing.T) {
	defaults := graph.Limits{Depth: graph.DefaultDepth, Complexity: graph.DefaultComplexity, ParserTokens: graph.DefaultParserTokens,
		BodyBytes: graph.DefaultBodyBytes, CheckMany: graph.DefaultCheckMany, RequestTimeout: graph.DefaultRequestTimeout}
	with := func(f func(*graph.Limits)) graph.Limits { l := defaults; f(&l); return l }
	for _, c := range []struct {
		name          string
		env           map[string]string
		args          []string
		limits        graph.Limits
		dev           bool
		introspection bool
		cors          []string
		invalid       string // a substring of the validation error
	}{
		{name: "defaults", limits: defaults, introspection: true},
		{name: "flags", args: []string{"--max-depth", "5", "--max-complexity", "200", "--max-tokens", "900",
			"--max-body-bytes", "4096", "--max-check-many", "10", "--request-timeout", "3s", "--dev", "--introspection=false"},
			limits: graph.Limits{Depth: 5, Complexity: 200, ParserTokens: 900, BodyBytes: 4096, CheckMany: 10, RequestTimeout: 3 * time.Second},
			dev:    true},
		{name: "environment", env: map[string]string{"GRANTQL_MAX_DEPTH": "7", "GRANTQL_REQUEST_TIMEOUT": "250ms",
			"GRANTQL_DEV": "true", "GRANTQL_INTROSPECTION": "off"},
			limits: with(func(l *graph.Limits) { l.Depth, l.RequestTimeout = 7, 250*time.Millisecond }), dev: true},
		{name: "flag over environment", env: map[string]string{"GRANTQL_MAX_CHECK_MANY": "5"}, args: []string{"--max-check-many", "6"},
			limits: with(func(l *graph.Limits) { l.CheckMany = 6 }), introspection: true},
		{name: "CORS origins", args: []string{"--cors-origins", "http://localhost:5173, https://App.example"},
			limits: defaults, introspection: true, cors: []string{"http://localhost:5173", "https://app.example"}},
		{name: "CORS origins from the environment", env: map[string]string{"GRANTQL_CORS_ORIGINS": "https://app.example"},
			limits: defaults, introspection: true, cors: []string{"https://app.example"}},
		{name: "CORS wildcard", args: []string{"--cors-origins", "*"}, invalid: "wildcard"},
		{name: "CORS origin with a path", env: map[string]string{"GRANTQL_CORS_ORIGINS": "https://app.example/"}, invalid: "trailing /"},
		{name: "depth 0", args: []string{"--max-depth", "0"}, invalid: "max depth 0"},
		{name: "body of no bytes", args: []string{"--max-body-bytes", "0"}, invalid: "max body bytes 0"},
		{name: "no time", args: []string{"--request-timeout", "0s"}, invalid: "request timeout 0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var cfg config
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.apiFlags(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.validateAPI()
			if c.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), c.invalid) {
					t.Errorf("validateAPI(%v) = %v, want an error about %q", c.args, err, c.invalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("validateAPI(%v) = %v", c.args, err)
			}
			if diff := cmp.Diff(c.limits, cfg.limits); diff != "" {
				t.Errorf("limits mismatch (-want +got):\n%s", diff)
			}
			if cfg.development != c.dev || cfg.introspection != c.introspection {
				t.Errorf("dev, introspection = %v, %v, want %v, %v", cfg.development, cfg.introspection, c.dev, c.introspection)
			}
			if diff := cmp.Diff(c.cors, cfg.corsOrigins); diff != "" {
				t.Errorf("CORS origins mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServeOperations runs serve with limits of its own, a pool of 5
// connections and JSON logs: a query over its depth is refused,
// introspection is off, /metrics serves the service's metrics (the pool's
// bound and the collector's target among them) without a token, a
// preflight from the one CORS origin is answered and another's refused,
// and the request lines carry the request id and the viewer but never the
// token.
func TestServeOperations(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			srv := serveInProcess(t, "--database-url", dbtest.URL(t, dialect),
				"--log-format", "json", "--max-depth", "1", "--introspection=false", "--db-max-conns", "5",
				"--cors-origins", "http://localhost:5173")
			addr, token := srv.addr, srv.adminToken()

			post := func(query, requestID string) (int, string) {
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"`+query+`"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("X-Request-Id", requestID)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}
			for _, c := range []struct {
				query, limit string
			}{
				{"{ viewer { groups { id } } }", graph.LimitDepth},
				{"{ __schema { queryType { name } } }", graph.LimitIntrospection},
			} {
				status, body := post(c.query, "refused")
				if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"limit":"`+c.limit+`"`) {
					t.Errorf("%s = %d %s, want 422 and the %s limit", c.query, status, body, c.limit)
				}
			}
			if status, body := post("query Me { viewer { username } }", "allowed-one"); status != http.StatusOK || !strings.Contains(body, "admin") {
				t.Errorf("query Me = %d %s, want the admin", status, body)
			}

			// The CORS origins reach the routes: a preflight from the
			// frontend is answered, one from elsewhere refused.
			for _, c := range []struct {
				origin, allowOrigin string
				status              int
			}{
				{"http://localhost:5173", "http://localhost:5173", http.StatusNoContent},
				{"http://localhost:5174", "", http.StatusForbidden},
			} {
				req, _ := http.NewRequest(http.MethodOptions, "http://"+addr+"/graphql", nil)
				req.Header.Set("Origin", c.origin)
				req.Header.Set("Access-Control-Request-Method", "POST")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if got := res.Header.Get("Access-Control-Allow-Origin"); res.StatusCode != c.status || got != c.allowOrigin {
					t.Errorf("preflight from %s = %d, Access-Control-Allow-Origin %q; want %d, %q", c.origin, res.StatusCode, got, c.status, c.allowOrigin)
				}
			}

			metrics := getMetrics(t, addr)
			for _, name := range []string{"grantql_sql_statements_total", "grantql_permission_cache_entries",
				"grantql_permission_cache_hits_total", "grantql_decision_logs_written_total", "grantql_decision_log_queue_depth",
				`grantql_graphql_request_duration_seconds_count{operation="Me",type="query"} 1`, `go_sql_open_connections{db_name="grantql"}`,
				`go_sql_max_open_connections{db_name="grantql"} 5`, wantGOGC()} {
				if !strings.Contains(metrics, name) {
					t.Errorf("GET /metrics without %s", name)
				}
			}

			// Request lines reach the log within logFlushEvery.
			var line map[string]any
			for deadline := time.Now().Add(5 * time.Second); line == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, l := range strings.Split(srv.stderr.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["request_id"] == "allowed-one" {
						line = m
					}
				}
			}
			if line["viewer"] != "1" || line["operation"] != "Me" || line["status"] != 200.0 {
				t.Errorf("request line of query Me = %v, want viewer 1, operation Me, status 200", line)
			}
			if token == "" || strings.Contains(srv.stderr.String(), token) {
				t.Errorf("the log holds the token %q (or serve printed none)", token)
			}
		})
	}
}

// TestDebugAddr: profiles are served only on a loopback address.
func TestDebugAddr(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", ":6060", "example.com:6060", "nonsense"} {
		if stop, err := startDebug(addr, log); err == nil {
			stop()
			t.Errorf("startDebug(%q) served, want an error: profiles are for loopback only", addr)
		}
	}
	addr := freeAddr(t)
	stop, err := startDebug(addr, log)
	if err != nil {
		t.Fatalf("startDebug(%q) = %v", addr, err)
	}
	defer stop()
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("GET /debug/pprof/goroutine = %d %.200s, want 200 with the goroutines", res.StatusCode, body)
	}
}

// getMetrics returns the body of serve's /metrics, failing t unless it
// answers 200.
func getMetrics(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", res.StatusCode, body)
	}
	return string(body)
}

// wantPool is the pool bound serve puts on dialect's connections by
// default, as /metrics shows it: 4 per CPU on PostgreSQL, 8 on SQLite.
func wantPool(dialect string) string {
	n := 8
	if dialect == models.Postgres {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	return fmt.Sprintf(`go_sql_max_open_connections{db_name="grantql"} %d`, n)
}

// wantGOGC is the collector's target serve runs with, as /metrics shows
// it: GOGC's when it is set, serve's own otherwise.
func wantGOGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return "go_gc_gogc_percent " + v
	}
	return fmt.Sprintf("go_gc_gogc_percent %d", gcPercent)
}

// TestRuleBoundFlags: the bounds of rule evaluation come from flags, whose
// defaults come from the environment and else are the engine's, and a
// bound below its minimum is refused.
func TestRuleBoundFlags(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     map[string]string
		args    []string
		steps   int64
		timeout time.Duration
		total   time.Duration
		invalid string
	}{
		{name: "defaults", steps: authz.DefaultRuleSteps, timeout: authz.DefaultRuleTimeout, total: authz.DefaultRuleRequestTime},
		{name: "flags", args: []string{"--max-rule-steps", "5000", "--rule-timeout", "20ms", "--max-rule-time", "50ms"},
			steps: 5000, timeout: 20 * time.Millisecond, total: 50 * time.Millisecond},
		{name: "environment", env: map[string]string{"GRANTQL_MAX_RULE_STEPS": "7", "GRANTQL_RULE_TIMEOUT": "2s", "GRANTQL_MAX_RULE_TIME": "3s"},
			steps: 7, timeout: 2 * time.Second, total: 3 * time.Second},
		{name: "no steps", args: []string{"--max-rule-steps", "0"}, invalid: "max rule steps 0"},
		{name: "no time", args: []string{"--rule-timeout", "0s"}, invalid: "rule timeout 0s"},
		{name: "no time for a request", args: []string{"--max-rule-time", "0s"}, invalid: "max rule time 0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var cfg config
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.engineFlags(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.validateEngine()
			if c.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), c.invalid) {
					t.Errorf("validateEngine(%v) = %v, want an error about %q", c.args, err, c.invalid)
				}
				return
			}
			if err != nil || cfg.ruleSteps != c.steps || cfg.ruleTimeout != c.timeout || cfg.ruleTime != c.total {
				t.Errorf("validateEngine(%v) = %v with steps %d, timeout %s, request time %s; want %d, %s, %s",
					c.args, err, cfg.ruleSteps, cfg.ruleTimeout, cfg.ruleTime, c.steps, c.timeout, c.total)
			}
		})
	}
}

package graph_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// metricsHarness is a server wired as cmd/api wires it: the engine
// reports to the metrics, which watch its shared cache, its decision-log
// writer and its database pool, and /metrics serves them.
type metricsHarness struct {
	*harness
	logs *authz.LogWriter
}

func newMetricsHarness(t *testing.T, db *models.DB) *metricsHarness {
	t.Helper()
	ctx := context.Background()
	store := models.NewStore(db)
	logs := authz.NewLogWriter(store, authz.LogWriterConfig{FlushInterval: time.Hour, BatchSize: 10000})
	t.Cleanup(func() { logs.Close(context.Background()) })
	cache := authz.NewSharedCache(1000, nil)
	t.Cleanup(cache.Start(ctx, store, time.Hour))
	m := graph.NewMetrics()
	engine := authz.NewEngine(store, authz.WithLogSink(logs), authz.WithVerbosity(1),
		authz.WithSharedCache(cache), authz.WithObserver(m))
	m.WatchSharedCache(engine)
	m.WatchDecisionLogs(logs)
	m.WatchDatabase(db.SQL())
	mux, err := graph.NewMux(ctx, engine, store, db, graph.WithMetrics(m))
	if err != nil {
		t.Fatalf("NewMux() = %v", err)
	}
	h := &harness{t: t, ctx: ctx, db: db, store: store, engine: engine, mux: mux}
	u, secret, err := store.CreateSuperuser(ctx, "root")
	if err != nil {
		t.Fatalf("CreateSuperuser(root) = %v", err)
	}
	h.root = actor{User: u, Token: secret}
	for deadline := time.Now().Add(10 * time.Second); !cache.Stats().Serving; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shared cache does not serve after 10s")
		}
	}
	return &metricsHarness{harness: h, logs: logs}
}

// scrape reads /metrics: each series, as `name{label="value",...}` with
// the labels sorted as the exposition format writes them, with its value.
func (h *harness) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	rec := get(h.mux, http.MethodGet, "/metrics", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics: /metrics counts checks by result and reason, requests by
// status and, per operation, their latency; it reports the shared cache,
// the decision-log writer, the database pool, the SQL statements run and
// the Go runtime.
func TestMetrics(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newMetricsHarness(t, db)
		u := h.mustUser(t, "u")
		p, q := h.mustProject(t, "p"), h.mustProject(t, "q")
		h.grantProject(t, authz.Holder{User: u.ID}, p.ID, authz.PermViewPage)
		check := func(project int64) string {
			return fmt.Sprintf(`query CanView { check(input: {perm: "projects.view_page", project: %q}) { allowed } }`, gid(project))
		}
		before := h.scrape(t)
		h.do(t, u.Token, check(p.ID))      // allowed, PROJECT_USER
		h.do(t, u.Token, check(p.ID))      // again, from the shared cache
		h.do(t, u.Token, check(q.ID))      // denied, NO_GRANT
		h.do(t, h.root.Token, check(q.ID)) // allowed, SUPERUSER
		h.do(t, u.Token, `{ check(input: {perm: "projects.nope"}) { allowed } }`)
		h.do(t, h.root.Token, `mutation { createGroup(name: "g") { id } }`)
		h.do(t, "gq_bogus", `{ viewer { id } }`)
		if err := h.logs.Close(h.ctx); err != nil {
			t.Fatal(err)
		}
		after := h.scrape(t)

		for series, want := range map[string]float64{
			`grantql_checks_total{reason="PROJECT_USER",result="allowed"}`:                          2,
			`grantql_checks_total{reason="NO_GRANT",result="denied"}`:                               1,
			`grantql_checks_total{reason="SUPERUSER",result="allowed"}`:                             2, // the check, and createGroup\'s
			`grantql_checks_total{reason="UNKNOWN_PERMISSION",result="error"}`:                      1,
			`grantql_graphql_request_duration_seconds_count{operation="CanView",type="query"}`:      4,
			`grantql_graphql_request_duration_seconds_count{operation="anonymous",type="query"}`:    1,
			`grantql_graphql_request_duration_seconds_count{operation="anonymous",type="mutation"}`: 1,
			`grantql_http_requests_total{code="200"}`:                                               7, // and the first scrape
			`grantql_http_requests_total{code="401"}`:                                               1,
		} {
			if got := after[series] - before[series]; got != want {
				t.Errorf("%s rose by %g, want %g", series, got, want)
			}
		}
		for series, atLeast := range map[string]float64{
			"grantql_sql_statements_total":          1,
			"grantql_permission_cache_hits_total":   1,
			"grantql_permission_cache_misses_total": 1,
			"grantql_decision_logs_written_total":   4,
			`grantql_graphql_request_duration_seconds_bucket{operation="CanView",type="query",le="+Inf"}`: 4,
		} {
			if got := after[series] - before[series]; got < atLeast {
				t.Errorf("%s rose by %g, want at least %g", series, got, atLeast)
			}
		}
		for series, want := range map[string]float64{
			"grantql_permission_cache_serving":   1,
			"grantql_decision_log_queue_depth":   0,
			"grantql_decision_logs_failed_total": 0,
		} {
			if got, ok := after[series]; !ok || got != want {
				t.Errorf("%s = %g (present %v), want %g", series, got, ok, want)
			}
		}
		for _, series := range []string{
			"grantql_permission_cache_entries", "grantql_permission_cache_bypasses_total",
			"grantql_permission_cache_evictions_total", "grantql_permission_revision",
			"grantql_decision_logs_sampled_out_total",
			`go_sql_max_open_connections{db_name="grantql"}`, `go_sql_open_connections{db_name="grantql"}`,
			"go_goroutines", "process_resident_memory_bytes",
		} {
			if _, ok := after[series]; !ok {
				t.Errorf("/metrics has no %s", series)
			}
		}
		if after["grantql_permission_cache_entries"] < 1 || after["grantql_permission_revision"] < 1 {
			t.Errorf("cache entries %g and revision %g, want both at least 1",
				after["grantql_permission_cache_entries"], after["grantql_permission_revision"])
		}
	})
}

// TestOperationLabelsBounded: the latency histogram keeps apart the first
// 200 operation names of at most 64 bytes, and counts the rest as other,
// so that clients cannot grow the metrics without bound.
func TestOperationLabelsBounded(t *testing.T) {
	db := dbtest.Open(t, models.SQLite)
	h := newOptionsHarness(t, db, nil, graph.WithMetrics(graph.NewMetrics()))
	for i := range 250 {
		h.do(t, "", fmt.Sprintf(`query Op%03d { __typename }`, i))
	}
	h.do(t, "", fmt.Sprintf(`query %s { __typename }`, strings.Repeat("Long", 17)))
	names := 0
	for series := range h.scrape(t) {
		if strings.HasPrefix(series, "grantql_graphql_request_duration_seconds_count{") {
			names++
		}
	}
	const series = `grantql_graphql_request_duration_seconds_count{operation="other",type="query"}`
	if got := h.scrape(t)[series]; names != 201 || got != 51 {
		t.Errorf("operation series = %d, %s = %g; want 201 and 51", names, series, got)
	}
}

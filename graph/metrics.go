package graph

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/models"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the service's Prometheus registry, served at /metrics by a
// NewMux given WithMetrics. It has a registry of its own, not the global
// one, so that one process (a test, say) can run several servers. It is
// the engine's authz.Observer, for the checks' counts; the Watch methods
// add what the service's parts count themselves, read at scrape time so
// that nothing is counted twice.
type Metrics struct {
	registry   *prometheus.Registry
	checks     *prometheus.CounterVec
	requests   *prometheus.CounterVec
	durations  *prometheus.HistogramVec
	operations operationLabels
}

var _ authz.Observer = (*Metrics)(nil)

// latencyBuckets are the bounds, in seconds, of the requests' latency
// histogram: a check the shared cache answers takes well under a
// millisecond, a cold one a few milliseconds, a guarded page of a hundred
// items tens of milliseconds; the top bound is the default request
// deadline, past which a request fails.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics returns a registry with the Go runtime's and the process's
// collectors, the checks' and the requests' metrics, and the count of SQL
// statements run.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantql_checks_total",
			Help: "Permission checks by result (allowed, denied, error) and reason: the decision's reason, or the error's code.",
		}, []string{"result", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantql_http_requests_total",
			Help: "HTTP requests by status code.",
		}, []string{"code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grantql_graphql_request_duration_seconds",
			Help:    "Time to answer a GraphQL request, by operation name (anonymous, or other past the first names seen) and type.",
			Buckets: latencyBuckets,
		}, []string{"operation", "type"}),
		operations: operationLabels{seen: map[string]bool{}},
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.checks, m.requests, m.durations,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "grantql_sql_statements_total",
			Help: "SQL statements the process ran through gorm.",
		}, func() float64 { return float64(models.Statements()) }),
	)
	return m
}

// ObserveDecision counts a decision by result and reason, or a failed
// check (a whole batch, once) as an error by its code.
func (m *Metrics) ObserveDecision(d authz.Decision, err error) {
	result, reason := "denied", string(d.Reason)
	switch {
	case err != nil:
		result, reason = "error", errorCode(err)
	case d.Allowed:
		result = "allowed"
	}
	m.checks.WithLabelValues(result, reason).Inc()
}

// WatchSharedCache exports the counters of engine's shared permission
// cache. With the cache off they stay at 0, so that dashboards and the
// load generator find them either way. Call it once.
func (m *Metrics) WatchSharedCache(engine *authz.Engine) {
	stats := func() authz.CacheStats {
		if c := engine.SharedCache(); c != nil {
			return c.Stats()
		}
		return authz.CacheStats{}
	}
	counter := func(name, help string, f func(authz.CacheStats) uint64) prometheus.Collector {
		return counterOf(name, help, stats, func(s authz.CacheStats) float64 { return float64(f(s)) })
	}
	gauge := func(name, help string, f func(authz.CacheStats) float64) prometheus.Collector {
		return gaugeOf(name, help, stats, f)
	}
	m.registry.MustRegister(
		counter("grantql_permission_cache_hits_total", "Checks and token look-ups the shared cache answered.",
			func(s authz.CacheStats) uint64 { return s.Hits }),
		counter("grantql_permission_cache_misses_total", "Checks and token look-ups the shared cache had to load.",
			func(s authz.CacheStats) uint64 { return s.Misses }),
		counter("grantql_permission_cache_bypasses_total", "Checks that went to the database because the cache was not serving or full consistency was asked.",
			func(s authz.CacheStats) uint64 { return s.Bypasses }),
		counter("grantql_permission_cache_evictions_total", "Entries the shared cache evicted to stay within its bound.",
			func(s authz.CacheStats) uint64 { return s.Evictions }),
		gauge("grantql_permission_cache_entries", "Entries the shared cache holds.",
			func(s authz.CacheStats) float64 { return float64(s.Entries) }),
		gauge("grantql_permission_cache_serving", "1 when the shared cache answers checks (its revision feed is healthy), 0 otherwise.",
			func(s authz.CacheStats) float64 { return boolFloat(s.Serving) }),
		gauge("grantql_permission_revision", "The newest permission revision this instance knows.",
			func(s authz.CacheStats) float64 { return float64(s.Revision) }),
	)
}

// WatchDecisionLogs exports the counters of the decision-log writer. Call
// it once.
func (m *Metrics) WatchDecisionLogs(w *authz.LogWriter) {
	counter := func(name, help string, f func(authz.LogWriterStats) int64) prometheus.Collector {
		return counterOf(name, help, w.Stats, func(s authz.LogWriterStats) float64 { return float64(f(s)) })
	}
	m.registry.MustRegister(
		gaugeOf("grantql_decision_log_queue_depth", "Decision logs accepted and not yet written (or spilled, or given up).", w.Stats,
			func(s authz.LogWriterStats) float64 { return float64(s.Pending()) }),
		counter("grantql_decision_logs_written_total", "Decision logs stored.",
			func(s authz.LogWriterStats) int64 { return s.Written }),
		counter("grantql_decision_logs_spilled_total", "Decision logs written to the spool for the next start to store.",
			func(s authz.LogWriterStats) int64 { return s.Spilled }),
		counter("grantql_decision_logs_failed_total", "Decision logs lost: given up, and neither stored nor spilled, each with an error log line.",
			func(s authz.LogWriterStats) int64 { return s.Failed }),
		counter("grantql_decision_logs_sampled_out_total", "Allowed decisions' logs left out by sampling.",
			func(s authz.LogWriterStats) int64 { return s.SampledOut }),
	)
}

// WatchDatabase exports the statistics of the database's connection pool
// (go_sql_*, with db_name="grantql"). Call it once.
func (m *Metrics) WatchDatabase(db *sql.DB) {
	m.registry.MustRegister(collectors.NewDBStatsCollector(db, "grantql"))
}

// Handler serves the registry in Prometheus' text format. It needs no
// token: /metrics is for the operators' network, not the public one.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// observeRequest counts a finished request by status and, for a GraphQL
// operation, observes its latency.
func (m *Metrics) observeRequest(status int, info *requestInfo, elapsed time.Duration) {
	m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	if info.opType != "" {
		m.durations.WithLabelValues(m.operations.label(info.operation), info.opType).Observe(elapsed.Seconds())
	}
}

// Operation names are the client's to choose, and every distinct label
// value is a series that the registry, and Prometheus after it, keep for
// good: a client sending a new name with every request would grow both
// without bound. So the histogram keeps apart the first
// maxOperationLabels names it sees, of at most maxOperationNameLen bytes
// each (a frontend has a few dozen operations, named for what they do),
// and counts every other one as "other".
const (
	maxOperationLabels  = 200
	maxOperationNameLen = 64
)

// operationLabels turns operation names into bounded label values.
type operationLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (o *operationLabels) label(name string) string {
	switch {
	case name == "":
		return "anonymous"
	case len(name) > maxOperationNameLen:
		return "other"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[name] {
		return name
	}
	if len(o.seen) >= maxOperationLabels {
		return "other"
	}
	o.seen[name] = true
	return name
}

// counterOf is a counter read at scrape time: f of what stats returns.
func counterOf[S any](name, help string, stats func() S, f func(S) float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
}

// gaugeOf is a gauge read at scrape time: f of what stats returns.
func gaugeOf[S any](name, help string, stats func() S, f func(S) float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

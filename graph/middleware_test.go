package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// logBuffer collects JSON log lines; it is safe for concurrent use, as the
// server's goroutines log into it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines decodes every line logged so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// withRequestID returns the lines logged with the request id.
func withRequestID(lines []map[string]any, id string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["request_id"] == id {
			out = append(out, l)
		}
	}
	return out
}

// jsonLogger logs every level, as JSON, into a new buffer.
func jsonLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// get sends a request to handler and returns the recorded response.
func get(handler http.Handler, method, path, requestID string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// TestRequestIDOnEveryRoute: every route, unknown ones included, answers
// with an X-Request-Id: the client's when it sent a usable one, a fresh
// one otherwise.
func TestRequestIDOnEveryRoute(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, nil, graph.WithMetrics(graph.NewMetrics()))
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{http.MethodGet, "/", http.StatusOK},
			{http.MethodGet, "/graphql?query={__typename}", http.StatusOK},
			{http.MethodGet, "/healthz", http.StatusOK},
			{http.MethodGet, "/readyz", http.StatusOK},
			{http.MethodGet, "/metrics", http.StatusOK},
			{http.MethodGet, "/nowhere", http.StatusNotFound},
		} {
			for _, sent := range []string{"", "req-42", "has space"} {
				rec := get(h.mux, c.method, c.path, sent)
				got := rec.Header().Get("X-Request-Id")
				if rec.Code != c.status {
					t.Errorf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.status)
				}
				switch {
				case sent == "req-42" && got != sent:
					t.Errorf("%s %s with X-Request-Id %q: X-Request-Id = %q, want the client's", c.method, c.path, sent, got)
				case sent != "req-42" && len(got) != 32:
					t.Errorf("%s %s with X-Request-Id %q: X-Request-Id = %q, want a fresh one of 32 hex digits", c.method, c.path, sent, got)
				}
			}
		}
	})
}

// panicPinger is a database whose ping panics.
type panicPinger struct{}

func (panicPinger) Ping(context.Context) error { panic("the pinger broke: secret detail") }

// panicObserver is an engine observer that panics on every decision.
type panicObserver struct{}

func (panicObserver) ObserveDecision(authz.Decision, error) {
	panic("the observer broke: secret detail")
}

// TestPanicRecovery: a panic in an HTTP handler or in a resolver answers
// a bare INTERNAL error, without the panic's details, and is logged with
// its stack and the request id.
func TestPanicRecovery(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		logger, logs := jsonLogger()
		store := models.NewStore(db)
		mux, err := graph.NewMux(context.Background(), authz.NewEngine(store), store, panicPinger{}, graph.WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		h := newOptionsHarness(t, db, []authz.Option{authz.WithObserver(panicObserver{})}, graph.WithLogger(logger))

		t.Run("handler", func(t *testing.T) {
			rec := get(mux, http.MethodGet, "/readyz", "panic-in-handler")
			var body struct{ Errors []gqlError }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("GET /readyz = %d %s: %v", rec.Code, rec.Body, err)
			}
			if rec.Code != http.StatusInternalServerError || len(body.Errors) != 1 || body.Errors[0].code() != graph.CodeInternal ||
				strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("GET /readyz with a panicking database = %d %s, want 500 and a bare INTERNAL error", rec.Code, rec.Body)
			}
			wantPanicLogged(t, logs.lines(t), "panic-in-handler")
		})
		t.Run("resolver", func(t *testing.T) {
			const q = `{ check(input: {perm: "projects.view_page"}) { allowed } }`
			got, _ := h.post(t, h.root.Token, "panic-in-resolver", q, nil)
			if len(got.Errors) != 1 || got.Errors[0].code() != graph.CodeInternal || got.Errors[0].Message != "internal error" {
				t.Errorf("%s with a panicking observer = %v, want a bare INTERNAL error", q, got)
			}
			wantPanicLogged(t, logs.lines(t), "panic-in-resolver")
		})
	})
}

// wantPanicLogged asserts that the request's lines hold the panic, with
// its stack.
func wantPanicLogged(t *testing.T, lines []map[string]any, requestID string) {
	t.Helper()
	for _, l := range withRequestID(lines, requestID) {
		stack, _ := l["stack"].(string)
		if l["level"] == "ERROR" && strings.Contains(fmt.Sprint(l["panic"]), "broke") && strings.Contains(stack, "goroutine") {
			return
		}
	}
	t.Errorf("log lines of request %s = %v, want the panic with its stack", requestID, withRequestID(lines, requestID))
}

// TestRequestLog: every request writes one line with its request id,
// status, duration and, once authenticated, its viewer and operation
// (probes at debug level); no line ever holds a token, valid or not.
func TestRequestLog(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		logger, logs := jsonLogger()
		h := newOptionsHarness(t, db, nil, graph.WithLogger(logger))
		u := h.mustUser(t, "u")
		const bogus = "gq_not-a-token-but-secret-all-the-same"
		for _, c := range []struct {
			name, token, query string
			want               map[string]any // fields of the request's line
		}{
			{name: "named query", token: u.Token, query: `query WhoAmI { viewer { id } }`,
				want: map[string]any{"level": "INFO", "status": 200.0, "viewer": u.gid(), "operation": "WhoAmI", "type": "query"}},
			{name: "anonymous mutation", token: h.root.Token, query: `mutation { createGroup(name: "g") { id } }`,
				want: map[string]any{"level": "INFO", "status": 200.0, "viewer": h.root.gid(), "operation": "anonymous", "type": "mutation"}},
			{name: "no token", query: `{ viewer { id } }`,
				want: map[string]any{"level": "INFO", "status": 200.0, "viewer": "anonymous", "operation": "anonymous", "type": "query"}},
			{name: "bad token", token: bogus, query: `{ viewer { id } }`,
				want: map[string]any{"level": "INFO", "status": 401.0, "path": "/graphql", "viewer": nil}},
		} {
			t.Run(c.name, func(t *testing.T) {
				id := "log-" + strings.ReplaceAll(c.name, " ", "-")
				h.post(t, c.token, id, c.query, map[string]any{"secret": c.token})
				var requestLines []map[string]any
				for _, l := range withRequestID(logs.lines(t), id) {
					if l["msg"] == "request" {
						requestLines = append(requestLines, l)
					}
				}
				if len(requestLines) != 1 {
					t.Fatalf("request lines of %s = %v, want one", id, requestLines)
				}
				l := requestLines[0]
				for k, v := range c.want {
					if l[k] != v {
						t.Errorf("request line %v: %s = %v, want %v", l, k, l[k], v)
					}
				}
				if _, ok := l["duration_ms"].(float64); !ok {
					t.Errorf("request line %v: no duration_ms", l)
				}
			})
		}
		get(h.mux, http.MethodGet, "/healthz", "probe")
		if lines := withRequestID(logs.lines(t), "probe"); len(lines) != 1 || lines[0]["level"] != "DEBUG" || lines[0]["status"] != 200.0 {
			t.Errorf("log lines of GET /healthz = %v, want one at debug level", lines)
		}
		for _, secret := range []string{u.Token, h.root.Token, bogus} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log holds the token %s:\n%s", secret, logs)
			}
		}
	})
}

// TestLogHandler: LogHandler adds the request id of the context to a line,
// once however often it wraps a handler, with or without other handlers
// between the wrappings, and none without one.
func TestLogHandler(t *testing.T) {
	for _, c := range []struct {
		name string
		wrap func(slog.Handler) slog.Handler
	}{
		{"twice", func(h slog.Handler) slog.Handler { return graph.LogHandler(graph.LogHandler(h)) }},
		{"twice, another handler between", func(h slog.Handler) slog.Handler {
			return graph.LogHandler(passThrough{graph.LogHandler(h)})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b logBuffer
			logger := slog.New(c.wrap(slog.NewJSONHandler(&b, nil)))
			logger.InfoContext(authz.WithRequestID(context.Background(), "r1"), "with")
			logger.Info("without")
			lines := b.lines(t)
			if len(lines) != 2 || lines[0]["request_id"] != "r1" || strings.Count(b.String(), "request_id") != 1 {
				t.Errorf("LogHandler lines = %s, want request_id r1 once, on the first", b.String())
			}
		})
	}
}

// passThrough is a handler that wraps another, as a process's own
// handlers (a buffer's flushing) do.
type passThrough struct{ slog.Handler }

package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/models"
)

// This file holds what the tests of object-level rules and checkAnswer logs
// add to the harness: a server whose engine has a rule store and a log
// sink, a way to flush the logs, raw HTTP requests that show headers, and
// log lines as GraphQL returns them.

// reopeningSink is the engine's log sink in these tests: a real
// authz.LogWriter, which flush closes (writing every queued log, as a
// graceful shutdown does) and replaces with a fresh one, so that the
// checks of later requests, such as the decisionLogs query's own, are
// logged too.
type reopeningSink struct {
	store *models.Store
	mu    sync.RWMutex
	w     *authz.LogWriter
}

// logWriterConfig writes only on Close: its batches are larger than any
// test's logs and its flush interval longer than any test, so that what
// is stored is exactly what was queued before the last flush, and the
// checks that reading the logs makes (decisionLogs checks
// authz.view_decisionlog) never show up in the logs being read.
var logWriterConfig = authz.LogWriterConfig{QueueSize: 10000, BatchSize: 10000, FlushInterval: time.Hour}

func newReopeningSink(store *models.Store) *reopeningSink {
	return &reopeningSink{store: store, w: authz.NewLogWriter(store, logWriterConfig)}
}

func (s *reopeningSink) Enqueue(ctx context.Context, l authz.DecisionLog) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.w.Enqueue(ctx, l)
}

// flush closes the current writer, which writes every queued log, and
// starts a new one. It returns the closed writer's counters.
func (s *reopeningSink) flush(ctx context.Context) (authz.LogWriterStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.w.Close(ctx)
	stats := s.w.Stats()
	s.w = authz.NewLogWriter(s.store, logWriterConfig)
	return stats, err
}

// logHarness is a harness whose engine has a rule store (for createRule),
// the built-in Page rules, a log sink at a chosen verbosity, and any
// further options.
type logHarness struct {
	*harness
	sink *reopeningSink
}

func newLogHarness(t *testing.T, db *models.DB, verbosity int, opts ...authz.Option) *logHarness {
	t.Helper()
	// Pages of 100 decision logs with their lines cost more than the
	// default complexity limit, which limits_test.go tests.
	return newOptionsHarness(t, db, append([]authz.Option{authz.WithVerbosity(verbosity)}, opts...),
		graph.WithLimits(graph.Limits{Complexity: 100000}))
}

// flushLogs writes every log queued so far, and fails the test if any was
// lost.
func (h *logHarness) flushLogs(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stats, err := h.sink.flush(ctx)
	if err != nil {
		t.Fatalf("flush checkAnswer logs: %v", err)
	}
	if stats.Failed != 0 || stats.Written != stats.Queued {
		t.Fatalf("log writer stats after Close = %+v, want every queued log written", stats)
	}
}

// post sends one GraphQL request over the handler, with an X-Request-Id
// header when requestID is not empty, and returns the response and its
// headers.
func (h *harness) post(t *testing.T, token, requestID, query string, vars map[string]any) (response, http.Header) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("POST %s = %d %s: %v", query, rec.Code, rec.Body, err)
	}
	if out.Data == nil {
		out.Data = json.RawMessage("null")
	}
	return response{Status: rec.Code, Data: out.Data, Errors: out.Errors}, rec.Header()
}

// mustData decodes the data of a response that must have no errors.
func mustData(t *testing.T, query string, res response, v any) {
	t.Helper()
	if res.Status != http.StatusOK || len(res.Errors) != 0 {
		t.Fatalf("%s = %v, want no errors", query, res)
	}
	if err := json.Unmarshal(res.Data, v); err != nil {
		t.Fatalf("%s: decode %s: %v", query, res.Data, err)
	}
}

// logLine is a log line as GraphQL returns it.
type logLine struct {
	Text string   `json:"text"`
	Tags []string `json:"tags"`
}

// autoLogLine is an automatic line; ruleLogLine a line a rule wrote without
// tags.
func autoLogLine(text string) logLine { return logLine{Text: text, Tags: []string{authz.TagAuto}} }
func ruleLogLine(text string) logLine { return logLine{Text: text, Tags: []string{}} }

// logNode is a DecisionLog as GraphQL returns it; logFields selects it.
type logNode struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Permission string    `json:"permission"`
	Allowed    bool      `json:"allowed"`
	Reason     string    `json:"reason"`
	User       *idRef    `json:"user"`
	Project    *idRef    `json:"project"`
	ObjectType *string   `json:"objectType"`
	ObjectID   *string   `json:"objectId"`
	Entries    []logLine `json:"entries"`
	Source     string    `json:"source"`
	RequestID  string    `json:"requestId"`
	Backend    string    `json:"backend"`
	CreatedAt  string    `json:"createdAt"`
}

type idRef struct {
	ID string `json:"id"`
}

const logFields = `id name permission allowed reason user { id } project { id } objectType objectId
	entries { text tags } source requestId backend createdAt`

// assertLogLines compares log lines, text and tags, line for line.
func assertLogLines(t *testing.T, what string, want, got []logLine) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s\ngot:\n%s", what, diff, renderLogLines(got))
	}
}

// renderLogLines prints lines as a reader would see them, tags in brackets.
func renderLogLines(es []logLine) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\t%-60q [%s]\n", e.Text, strings.Join(e.Tags, ","))
	}
	return b.String()
}

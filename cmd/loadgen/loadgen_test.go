package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/internal/buildtest"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// tinyDataset seeds in well under a second on both dialects, with two
// projects of more than 100 pages for the guarded list.
var tinyDataset = []string{"-users", "300", "-groups", "20", "-projects", "60", "-grants", "4000",
	"-page-projects", "3", "-pages-per-project", "110", "-checks", "1000", "-tokens", "20"}

// serverBinary builds the server once for the package's tests.
func serverBinary(t *testing.T) string {
	t.Helper()
	return buildtest.Binary(t, "github.com/grantql/grantql/cmd/api", false)
}

func TestMain(m *testing.M) {
	code := m.Run()
	buildtest.Cleanup()
	os.Exit(code)
}

// baseURL is what -database-url is for a dialect.
func baseURL(dialect string) string {
	if dialect == models.Postgres {
		return os.Getenv(dbtest.EnvPostgres)
	}
	return "sqlite"
}

// runLoadgen runs the load generator and returns its JSON report.
func runLoadgen(t *testing.T, dialect string, args ...string) (*report, string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	args = append([]string{"-server", serverBinary(t), "-database-url", baseURL(dialect), "-json", out,
		"-concurrency", "4", "-warmup", "300ms"}, append(tinyDataset, args...)...)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := run(ctx, args, &stdout, &stderr)
	data, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("loadgen %q: %v, and no report (%v)\nstdout: %s\nstderr: %s", args, err, rerr, stdout.String(), stderr.String())
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep, stdout.String(), err
}

// TestWorkloads runs every workload for a second against the real server
// on each database: requests succeed, with no error and no wrong answer.
func TestWorkloads(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			rep, stdout, err := runLoadgen(t, dialect, "-workload", strings.Join(workloadNames, ","), "-duration", "1s")
			if err != nil {
				t.Fatalf("loadgen: %v\n%s", err, stdout)
			}
			if len(rep.Results) != len(workloadNames) {
				t.Fatalf("%d results, want %d\n%s", len(rep.Results), len(workloadNames), stdout)
			}
			for _, r := range rep.Results {
				if r.Requests == 0 || r.Errors.total() != 0 {
					t.Errorf("%s: %d requests, errors %+v (%v); want some requests and no error", r.Workload, r.Requests, r.Errors, r.Samples)
				}
				if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
					t.Errorf("%s: latency p50 %g, p99 %g, max %g ms; want 0 < p50 <= p99 <= max", r.Workload, r.P50, r.P99, r.Max)
				}
				if runtime.GOOS == "linux" && (r.RSSStart <= 0 || r.RSSEnd <= 0) {
					t.Errorf("%s: server RSS %d to %d, want both measured", r.Workload, r.RSSStart, r.RSSEnd)
				}
				if runtime.GOOS == "linux" && (r.ServerCPU == nil || *r.ServerCPU <= 0 || r.LoadgenCPU == nil || *r.LoadgenCPU <= 0) {
					t.Errorf("%s: CPU a request: server %v, load generator %v; want both measured", r.Workload, r.ServerCPU, r.LoadgenCPU)
				}
			}
			mixed := rep.Results[len(rep.Results)-1]
			for _, k := range []string{kindHasProjectPerm, kindCheckMany, kindViewerPermissions, kindGuardedList} {
				if mixed.ByKind[k] == 0 {
					t.Errorf("mixed sent no %s request: %v", k, mixed.ByKind)
				}
			}
		})
	}
}

// TestSoak runs a short soak on each database: no error, every decision
// log accounted for, and the sample re-checked against the database. The
// memory criterion needs minutes to mean anything, so it is not held here.
func TestSoak(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			rep, stdout, err := runLoadgen(t, dialect, "-soak", "-duration", "2s", "-writes", "0.2")
			s := rep.Soak
			if s == nil {
				t.Fatalf("no soak report: %v\n%s", err, stdout)
			}
			if err != nil && !(s.ErrorsPass && s.LogsPass && s.RecheckPass && s.ServerStopPass) {
				t.Fatalf("loadgen -soak: %v\n%s", err, stdout)
			}
			if s.Requests == 0 || s.Writes == 0 || s.ReadYourWrites == 0 {
				t.Errorf("soak sent %d requests, %d writes, %d reads of them; want some of each\n%s", s.Requests, s.Writes, s.ReadYourWrites, stdout)
			}
			if !s.ErrorsPass || s.Errors != 0 {
				t.Errorf("soak errors = %d, want 0\n%s", s.Errors, stdout)
			}
			if !s.LogsPass || s.LogsExpected == 0 || s.LogsFound != s.LogsExpected || s.LogsWhole != s.LogsFound {
				t.Errorf("decision logs: %d found, %d expected, %d whole; want all equal and not 0\n%s",
					s.LogsFound, s.LogsExpected, s.LogsWhole, stdout)
			}
			if !s.RecheckPass || s.Rechecked < 100 || s.Disagreed != 0 {
				t.Errorf("re-check: %d answers, %d disagree; want at least 100 and none\n%s", s.Rechecked, s.Disagreed, stdout)
			}
			if !s.ServerStopPass {
				t.Errorf("server stop: %s", s.ServerStop)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	server := filepath.Join(t.TempDir(), "grantql")
	if err := os.WriteFile(server, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-server", server}, true},
		{[]string{"-server", server, "-addr", "::1"}, true},
		{[]string{"-server", server, "-addr", "localhost"}, true},
		{[]string{"-server", server, "-addr", "10.1.2.3"}, false},
		{[]string{"-server", server, "-addr", "0.0.0.0"}, false},
		{[]string{"-server", server, "-addr", "example.com"}, false},
		{[]string{}, false},
		{[]string{"-server", filepath.Join(t.TempDir(), "missing")}, false},
		{[]string{"-server", server, "-workload", "bogus"}, false},
		{[]string{"-server", server, "-workload", "checkMany,mixed"}, true},
		{[]string{"-server", server, "-cache-size", "-1"}, false},
		{[]string{"-server", server, "-cache-size", "0"}, true},
		{[]string{"-server", server, "-concurrency", "0"}, false},
		{[]string{"-server", server, "-server-env", "NOEQUALS"}, false},
		{[]string{"-server", server, "-soak", "-server-env", "GRANTQL_DECISION_LOG_SAMPLE=0.5"}, false},
	} {
		_, err := parseFlags(tc.args, &bytes.Buffer{})
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q) = %v, want ok %t", tc.args, err, tc.ok)
		}
	}
	o, err := parseFlags([]string{"-server", server, "-soak", "-workload", "checkMany"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.workloads) != 1 || o.workloads[0] != workloadMixed || o.writeShare != soakWriteShare || o.warmup != soakWarmup {
		t.Errorf("-soak gave workloads %v with %g writes after %v, want mixed with %g after %v",
			o.workloads, o.writeShare, o.warmup, soakWriteShare, soakWarmup)
	}
	o, err = parseFlags([]string{"-server", server, "-soak", "-warmup", "2s"}, &bytes.Buffer{})
	if err != nil || o.warmup != 2*time.Second {
		t.Errorf("-soak -warmup 2s gave a warm-up of %v (%v), want 2s", o.warmup, err)
	}
}

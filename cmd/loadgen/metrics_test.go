package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP grantql_sql_statements_total SQL statements.
# TYPE grantql_sql_statements_total counter
grantql_sql_statements_total{kind="query"} 1200
grantql_sql_statements_total{kind="exec"} 34
grantql_permission_cache_entries 5.5e+03
grantql_permission_cache_hits_total 9 1712345678000
go_gc_duration_seconds{quantile="0.5"} 1.2e-05
odd{label="with } brace"} 3
broken_line
`
	got := parseMetrics(strings.NewReader(text))
	want := metrics{
		"grantql_sql_statements_total":        1234,
		"grantql_permission_cache_entries":    5500,
		"grantql_permission_cache_hits_total": 9,
		"go_gc_duration_seconds":              1.2e-05,
		"odd":                                 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMetrics mismatch (-want +got):\n%s", diff)
	}
	before := metrics{"a": 10}
	if d, ok := delta(before, metrics{"a": 25}, "a"); !ok || d != 15 {
		t.Errorf("delta = %g, %t; want 15, true", d, ok)
	}
	if _, ok := delta(before, metrics{}, "a"); ok {
		t.Error("delta of a metric the second scrape lacks is ok, want n/a")
	}
}

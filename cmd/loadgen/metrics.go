package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// The server's Prometheus metrics the report reads. A server without
// them (or without /metrics) gives "n/a".
const (
	metricStatements   = "grantql_sql_statements_total"
	metricCacheEntries = "grantql_permission_cache_entries"
	metricCacheHits    = "grantql_permission_cache_hits_total"
	metricCacheMisses  = "grantql_permission_cache_misses_total"
	metricLogsWritten  = "grantql_decision_logs_written_total"
	metricLogQueue     = "grantql_decision_log_queue_depth"
	metricCPU          = "process_cpu_seconds_total"
)

// metrics is one scrape: each metric's value, summed over its label sets.
type metrics map[string]float64

// get returns a metric's value, and false when the scrape had none.
func (m metrics) get(name string) (float64, bool) {
	v, ok := m[name]
	return v, ok
}

// delta returns after - before for a counter both scrapes have.
func delta(before, after metrics, name string) (float64, bool) {
	b, ok1 := before.get(name)
	a, ok2 := after.get(name)
	return a - b, ok1 && ok2
}

// scrape reads /metrics; a server without it gives empty metrics, not an
// error, so that the report says n/a.
func scrape(ctx context.Context, client *http.Client, base string) metrics {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return metrics{}
	}
	res, err := client.Do(req)
	if err != nil {
		return metrics{}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		io.Copy(io.Discard, res.Body)
		return metrics{}
	}
	return parseMetrics(res.Body)
}

// parseMetrics reads the Prometheus text format: one sample a line,
// `name{labels} value [timestamp]`, comments starting with #. Histogram and
// summary series keep their suffixed names (_bucket, _sum, _count).
func parseMetrics(r io.Reader) metrics {
	out := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var name, rest string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, rest = line[:i], line[j+1:]
		} else {
			var ok bool
			name, rest, ok = strings.Cut(line, " ")
			if !ok {
				continue
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(name)] += v
	}
	return out
}

// residentBytes returns the resident set size of a process (VmRSS in
// /proc/<pid>/status), and false where there is no /proc.
func residentBytes(pid int) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

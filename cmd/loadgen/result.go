package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// rssInterval is how often the server's resident size is sampled during a
// measurement, for its maximum.
const rssInterval = 5 * time.Second

// result is what one workload measured.
type result struct {
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Warmup      float64 `json:"warmupSeconds"`
	CacheSize   string  `json:"cacheSize"` // "" for the server's default
	WriteShare  float64 `json:"writeShare,omitempty"`

	Requests int64   `json:"requests"`
	RPS      float64 `json:"requestsPerSecond"`
	// The fewest and most requests completed in one whole second of the
	// run: a stall shows as a low minimum.
	MinPerSecond int64            `json:"minPerSecond"`
	MaxPerSecond int64            `json:"maxPerSecond"`
	ByKind       map[string]int64 `json:"byKind"`
	P50          float64          `json:"p50Ms"`
	P95          float64          `json:"p95Ms"`
	P99          float64          `json:"p99Ms"`
	Max          float64          `json:"maxMs"`
	Errors       errorCounts      `json:"errors"`
	Samples      []string         `json:"errorSamples,omitempty"`

	// From /metrics, nil when the server does not export them.
	StatementsPerRequest *float64 `json:"statementsPerRequest"`
	CacheHitRatio        *float64 `json:"cacheHitRatio"`
	CacheEntries         *float64 `json:"cacheEntries"`
	LogsWritten          *float64 `json:"decisionLogsWritten"`
	LogQueueDepth        *float64 `json:"decisionLogQueueDepth"`
	// The CPU time, user and system, a recorded request cost on average,
	// in µs: the server's (its process_cpu_seconds_total, to the 10 ms
	// the kernel counts in) and the load generator's own, both over the
	// measured traffic. They show what a change costs or saves even when
	// the machine's speed moves the rates: the two processes share it.
	ServerCPU  *float64 `json:"serverCpuMicrosPerRequest"`
	LoadgenCPU *float64 `json:"loadgenCpuMicrosPerRequest"`

	// The server's resident size in bytes; 0 where /proc is missing.
	RSSStart int64 `json:"rssStart"`
	RSSEnd   int64 `json:"rssEnd"`
	RSSMax   int64 `json:"rssMax"`
	// RSSByMinute is the resident size at the end of each whole minute of
	// the measured traffic, for runs of a minute or more.
	RSSByMinute []int64 `json:"rssByMinute,omitempty"`
}

// measure runs one workload: the warm-up, then the measured traffic, with
// the server's metrics and resident size read at both ends of it.
func measure(ctx context.Context, o *options, t *traffic, srv *serverProcess, client *http.Client, name string) (*result, []*worker, error) {
	stop := make(chan struct{})
	done := make(chan []*worker, 1)
	go func() { done <- t.run(ctx, stop) }()
	abort := func(err error) (*result, []*worker, error) {
		close(stop)
		<-done
		return nil, nil, err
	}
	select {
	case <-time.After(o.warmup):
	case <-ctx.Done():
		return abort(ctx.Err())
	case <-srv.done:
		return abort(fmt.Errorf("the server exited during the warm-up (%v):\n%s", srv.err, srv.logTail(20)))
	}
	before := scrape(ctx, client, srv.base())
	cpuBefore, cpuKnown := ownCPU()
	res := &result{Workload: name, Concurrency: o.concurrency, Warmup: o.warmup.Seconds(), CacheSize: o.cacheSize,
		WriteShare: t.writeShare}
	res.RSSStart, _ = residentBytes(srv.pid())
	res.RSSMax = res.RSSStart
	t.recording.Store(true)
	began := time.Now()
	end := time.NewTimer(o.duration)
	defer end.Stop()
	tick := time.NewTicker(rssInterval)
	defer tick.Stop()
	second := time.NewTicker(time.Second)
	defer second.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	res.MinPerSecond = -1
	var last int64
wait:
	for {
		select {
		case <-end.C:
			break wait
		case <-tick.C:
			if rss, ok := residentBytes(srv.pid()); ok {
				res.RSSMax = max(res.RSSMax, rss)
			}
		case <-minute.C:
			if rss, ok := residentBytes(srv.pid()); ok {
				res.RSSMax = max(res.RSSMax, rss)
				res.RSSByMinute = append(res.RSSByMinute, rss)
			}
		case <-second.C:
			n := t.completed.Load()
			if res.MinPerSecond < 0 || n-last < res.MinPerSecond {
				res.MinPerSecond = n - last
			}
			res.MaxPerSecond = max(res.MaxPerSecond, n-last)
			last = n
		case <-ctx.Done():
			return abort(ctx.Err())
		case <-srv.done:
			return abort(fmt.Errorf("the server exited during the run (%v):\n%s", srv.err, srv.logTail(20)))
		}
	}
	res.RSSEnd, _ = residentBytes(srv.pid())
	res.RSSMax = max(res.RSSMax, res.RSSEnd)
	res.MinPerSecond = max(res.MinPerSecond, 0)
	close(stop)
	workers := <-done
	elapsed := time.Since(began)
	cpuAfter, _ := ownCPU()
	after := scrape(ctx, client, srv.base())

	var hist histogram
	res.ByKind = map[string]int64{}
	for _, w := range workers {
		hist.merge(&w.stats.hist)
		res.Requests += w.stats.requests
		for k, n := range w.stats.byKind {
			res.ByKind[k] += n
		}
		res.Errors.add(w.stats.errs)
		for _, s := range w.stats.samples {
			if len(res.Samples) < maxErrorSamples {
				res.Samples = append(res.Samples, s)
			}
		}
	}
	res.Seconds = elapsed.Seconds()
	res.RPS = float64(res.Requests) / elapsed.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.P50, res.P95, res.P99, res.Max = ms(hist.quantile(0.50)), ms(hist.quantile(0.95)), ms(hist.quantile(0.99)), ms(hist.max)

	if n, ok := delta(before, after, metricStatements); ok && res.Requests > 0 {
		res.StatementsPerRequest = ptr(n / float64(res.Requests))
	}
	hits, ok1 := delta(before, after, metricCacheHits)
	misses, ok2 := delta(before, after, metricCacheMisses)
	if ok1 && ok2 && hits+misses > 0 {
		res.CacheHitRatio = ptr(hits / (hits + misses))
	}
	if v, ok := after.get(metricCacheEntries); ok {
		res.CacheEntries = ptr(v)
	}
	if n, ok := delta(before, after, metricLogsWritten); ok {
		res.LogsWritten = ptr(n)
	}
	if v, ok := after.get(metricLogQueue); ok {
		res.LogQueueDepth = ptr(v)
	}
	if res.Requests > 0 {
		if s, ok := delta(before, after, metricCPU); ok {
			res.ServerCPU = ptr(s * 1e6 / float64(res.Requests))
		}
		if cpuKnown {
			res.LoadgenCPU = ptr(float64((cpuAfter-cpuBefore)/time.Microsecond) / float64(res.Requests))
		}
	}
	return res, workers, nil
}

func ptr(v float64) *float64 { return &v }

// print writes the result for people.
func (r *result) print(w io.Writer) {
	cache := "server default"
	if r.CacheSize != "" {
		cache = r.CacheSize
	}
	fmt.Fprintf(w, "\n== %s: concurrency %d, %.1fs measured after a %.1fs warm-up, cache size %s", r.Workload, r.Concurrency, r.Seconds, r.Warmup, cache)
	if r.WriteShare > 0 {
		fmt.Fprintf(w, ", %g%% writes", 100*r.WriteShare)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  requests        %s (%s/s)%s\n", commas(r.Requests), commas(int64(r.RPS+0.5)), kinds(r.ByKind))
	fmt.Fprintf(w, "  per second      %s to %s requests\n", commas(r.MinPerSecond), commas(r.MaxPerSecond))
	fmt.Fprintf(w, "  latency         p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.P50, r.P95, r.P99, r.Max)
	e := r.Errors
	fmt.Fprintf(w, "  errors          %d (transport %d, non-200 %d, GraphQL %d, wrong answers %d, stale reads of own writes %d)\n",
		e.total(), e.Transport, e.Status, e.GraphQL, e.Wrong, e.Stale)
	for _, s := range r.Samples {
		fmt.Fprintf(w, "                  %s\n", s)
	}
	fmt.Fprintf(w, "  SQL statements  %s per request\n", optional(r.StatementsPerRequest, "%.2f"))
	entries := ""
	if r.CacheEntries != nil {
		entries = fmt.Sprintf(", %s entries", commas(int64(*r.CacheEntries)))
	}
	hit := "n/a"
	if r.CacheHitRatio != nil {
		hit = fmt.Sprintf("%.1f%%", 100**r.CacheHitRatio)
	}
	fmt.Fprintf(w, "  cache           hit ratio %s%s\n", hit, entries)
	fmt.Fprintf(w, "  decision logs   %s written, queue depth %s at the end\n", optional(r.LogsWritten, "%.0f"), optional(r.LogQueueDepth, "%.0f"))
	fmt.Fprintf(w, "  CPU             server %s µs, load generator %s µs a request\n", optional(r.ServerCPU, "%.0f"), optional(r.LoadgenCPU, "%.0f"))
	fmt.Fprintf(w, "  server RSS      %s at the start of the traffic, %s at the end, %s at most\n", mib(r.RSSStart), mib(r.RSSEnd), mib(r.RSSMax))
}

// print writes the soak's verdict for people.
func (r *soakReport) print(w io.Writer) {
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Fprintf(w, "\n== soak: %s\n", verdict(r.Pass))
	fmt.Fprintf(w, "  requests        %s, of which %s writes and %s reads of the written keys\n", commas(r.Requests), commas(r.Writes), commas(r.ReadYourWrites))
	fmt.Fprintf(w, "  errors          %d (must be 0)  %s\n", r.Errors, verdict(r.ErrorsPass))
	if r.RSSStart > 0 {
		fmt.Fprintf(w, "  server RSS      %s at the start, %s at the end (%+.1f%%, must be within ±%.0f%%), %s at most  %s\n",
			mib(r.RSSStart), mib(r.RSSEnd), 100*r.RSSChange, 100*rssTolerance, mib(r.RSSMax), verdict(r.RSSPass))
		if len(r.RSSByMinute) > 0 {
			minutes := make([]string, len(r.RSSByMinute))
			for i, b := range r.RSSByMinute {
				minutes[i] = fmt.Sprintf("%.1f", float64(b)/(1<<20))
			}
			fmt.Fprintf(w, "                  each minute: %s MiB\n", strings.Join(minutes, ", "))
		}
	} else {
		fmt.Fprintf(w, "  server RSS      n/a (no /proc)  FAIL\n")
	}
	fmt.Fprintf(w, "  decision logs   %s expected, %s found, %s of them whole  %s\n",
		commas(r.LogsExpected), commas(r.LogsFound), commas(r.LogsWhole), verdict(r.LogsPass))
	for _, s := range r.LogsDetail {
		fmt.Fprintf(w, "                  %s\n", s)
	}
	fmt.Fprintf(w, "  re-check        %s answers (a sample of the reads, and every write key) against the database: %d disagree  %s\n",
		commas(int64(r.Rechecked)), r.Disagreed, verdict(r.RecheckPass))
	for _, s := range r.RecheckDiff {
		fmt.Fprintf(w, "                  %s\n", s)
	}
	if !r.ServerStopPass {
		fmt.Fprintf(w, "  server stop     %s  FAIL\n", r.ServerStop)
	}
}

func optional(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// kinds lists the requests by kind when there is more than one kind.
func kinds(byKind map[string]int64) string {
	if len(byKind) < 2 {
		return ""
	}
	var parts []string
	for _, k := range []string{kindHasProjectPerm, kindCheckMany, kindViewerPermissions, kindGuardedList, kindGrant, kindRevoke, kindReadYourWrite} {
		if n := byKind[k]; n > 0 {
			parts = append(parts, k+" "+commas(n))
		}
	}
	return ": " + strings.Join(parts, ", ")
}

// commas formats n with thousands separators.
func commas(n int64) string {
	if n < 0 {
		return "-" + commas(-n)
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

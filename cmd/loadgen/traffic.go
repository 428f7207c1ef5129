package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The request mix of the mixed workloads: the share of operations that
// are writes: 1% in the mixed workload of make bench, 5% in the soak.
const (
	mixedWriteShare = 0.01
	soakWriteShare  = 0.05
)

// maxErrorSamples bounds the error messages a run keeps to show.
const maxErrorSamples = 5

// sampleSize is how many read answers a soak re-checks against the
// database afterwards.
const sampleSize = 1000

// requestTimeout bounds one request: far above any latency worth
// measuring, so that a hung server shows as errors instead of a hung run.
const requestTimeout = 30 * time.Second

// traffic is one workload's closed-loop run: concurrency workers, each
// sending its next request when the last one has answered.
type traffic struct {
	addr string // the server's loopback host:port
	p    *prepared
	// kinds are the read kinds the workload draws from, uniformly;
	// writeShare is the share of operations that are writes (a write
	// and, in a soak, the check that reads it back).
	kinds       []string
	writeShare  float64
	readYourOwn bool
	concurrency int

	recording atomic.Bool
	stopping  atomic.Bool
	// completed counts the recorded requests as they finish, for the
	// requests of each second.
	completed atomic.Int64
}

// workerStats is what one worker counted; the run merges them.
type workerStats struct {
	hist     histogram
	requests int64 // recorded requests
	byKind   map[string]int64
	errs     errorCounts
	samples  []string

	// logs is the decision logs the worker's answered requests left,
	// recorded or not (warm-up included): the soak compares their sum
	// with the rows the server wrote.
	logs int64
	// answered counts every request that answered 200 without GraphQL
	// errors, recorded or not.
	answered int64
	// reservoir is a uniform sample of the read answers the worker got.
	reservoir []answer
	seen      int64
}

// errorCounts are the failures of a run, by what went wrong.
type errorCounts struct {
	Transport int64 `json:"transport"` // no HTTP answer
	Status    int64 `json:"status"`    // an answer other than 200
	GraphQL   int64 `json:"graphql"`   // a 200 with GraphQL errors
	Wrong     int64 `json:"wrong"`     // a wrong answer to a read or a write
	Stale     int64 `json:"stale"`     // a read of one's own write that did not reflect it
}

func (e errorCounts) total() int64 { return e.Transport + e.Status + e.GraphQL + e.Wrong + e.Stale }

func (e *errorCounts) add(o errorCounts) {
	e.Transport += o.Transport
	e.Status += o.Status
	e.GraphQL += o.GraphQL
	e.Wrong += o.Wrong
	e.Stale += o.Stale
}

// worker is one closed loop.
type worker struct {
	t     *traffic
	rng   *rand.Rand
	stats workerStats
	buf   bytes.Buffer
	conn  conn
	// keys are the indexes of the write keys this worker owns.
	keys []int
}

// outcome is how a request went.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeTransport
	outcomeStatus
	outcomeGraphQL
	outcomeWrong
)

// run drives the workers until stop is closed; it returns their stats.
func (t *traffic) run(ctx context.Context, stop <-chan struct{}) []*worker {
	workers := make([]*worker, t.concurrency)
	for i := range workers {
		w := &worker{t: t, rng: rand.New(rand.NewPCG(uint64(i)+1, 0x6c67)),
			stats: workerStats{byKind: map[string]int64{}}, conn: conn{addr: t.addr}}
		for k := i; k < len(t.p.writes); k += t.concurrency {
			w.keys = append(w.keys, k)
		}
		workers[i] = w
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.conn.close()
			w.loop(ctx)
		}()
	}
	select {
	case <-stop:
	case <-ctx.Done():
	}
	t.stopping.Store(true)
	wg.Wait()
	return workers
}

func (w *worker) loop(ctx context.Context) {
	for !w.t.stopping.Load() && ctx.Err() == nil {
		if len(w.keys) > 0 && w.t.writeShare > 0 && w.rng.Float64() < w.t.writeShare {
			w.write(ctx)
			continue
		}
		kind := w.t.kinds[w.rng.IntN(len(w.t.kinds))]
		reqs := w.t.p.byKind[kind]
		r := reqs[w.rng.IntN(len(reqs))]
		if w.send(ctx, r) == outcomeOK {
			for _, a := range r.answers {
				w.keep(a)
			}
		}
	}
}

// write toggles one of the worker's keys: a grant when the worker last
// left it revoked, a revoke otherwise; in a soak, the same worker then
// checks the key, and the answer must reflect the write.
func (w *worker) write(ctx context.Context) {
	i := w.keys[w.rng.IntN(len(w.keys))]
	k, granted := w.t.p.writes[i], w.t.p.granted
	r := grantRequest(w.t.p.admin.Token, k)
	if granted[i] {
		r = revokeRequest(w.t.p.admin.Token, k)
	}
	if w.send(ctx, r) != outcomeOK {
		return
	}
	granted[i] = !granted[i]
	if !w.t.readYourOwn {
		return
	}
	check := hasProjectPermRequest(w.t.p.admin.Token, answer{k.User, k.Perm, k.Project, granted[i]})
	check.kind = kindReadYourWrite
	check.answers = nil
	w.send(ctx, check)
}

// keep adds a read answer to the worker's reservoir (Algorithm R): every
// answer seen has the same chance to be in it.
func (w *worker) keep(a answer) {
	w.stats.seen++
	if len(w.stats.reservoir) < sampleSize {
		w.stats.reservoir = append(w.stats.reservoir, a)
		return
	}
	if j := w.rng.Int64N(w.stats.seen); j < sampleSize {
		w.stats.reservoir[j] = a
	}
}

// send sends one request and judges its answer. The request id carries
// the decision logs the request should leave, so that a soak whose counts
// disagree can say which requests left other counts.
func (w *worker) send(ctx context.Context, r *request) outcome {
	recording := w.t.recording.Load()
	reqID := "lg-" + strconv.Itoa(r.logs) + "-" + strconv.FormatInt(w.t.p.seq.Add(1), 10)
	start := time.Now()
	out, detail := w.do(ctx, r, reqID)
	elapsed := time.Since(start)
	// A request answered in full left its logs, whether its answer was
	// right or wrong.
	if out == outcomeOK || out == outcomeWrong {
		w.stats.logs += int64(r.logs)
		w.stats.answered++
	}
	if !recording {
		return out
	}
	w.stats.requests++
	w.t.completed.Add(1)
	w.stats.byKind[r.kind]++
	w.stats.hist.record(elapsed)
	switch out {
	case outcomeTransport:
		w.stats.errs.Transport++
	case outcomeStatus:
		w.stats.errs.Status++
	case outcomeGraphQL:
		w.stats.errs.GraphQL++
	case outcomeWrong:
		if r.kind == kindReadYourWrite {
			w.stats.errs.Stale++
		} else {
			w.stats.errs.Wrong++
		}
	}
	if out != outcomeOK && len(w.stats.samples) < maxErrorSamples {
		w.stats.samples = append(w.stats.samples, fmt.Sprintf("%s (request %s): %s", r.kind, reqID, detail))
	}
	return out
}

func (w *worker) do(ctx context.Context, r *request, reqID string) (outcome, string) {
	res, err := w.conn.post(ctx, r.body, &w.buf, "Authorization", "Bearer "+r.token, "X-Request-Id", reqID)
	if err != nil {
		return outcomeTransport, err.Error()
	}
	got := bytes.TrimSpace(res.body)
	if res.status != http.StatusOK {
		return outcomeStatus, fmt.Sprintf("HTTP %d: %.300s", res.status, got)
	}
	if r.expect != nil && bytes.Equal(got, r.expect) {
		return outcomeOK, ""
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(got, &resp); err != nil {
		return outcomeWrong, fmt.Sprintf("not a GraphQL response: %.300s", got)
	}
	if len(resp.Errors) > 0 {
		e := resp.Errors[0]
		return outcomeGraphQL, fmt.Sprintf("%s (code %v)", e.Message, e.Extensions["code"])
	}
	if err := r.check(resp.Data); err != nil {
		return outcomeWrong, err.Error()
	}
	return outcomeOK, ""
}

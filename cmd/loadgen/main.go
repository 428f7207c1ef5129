// Command loadgen measures a grantql server under load. Given the server
// binary, it creates a fresh database (PostgreSQL or SQLite), seeds it with
// `server seed` (a deterministic dataset and a workload of checks with
// their answers), starts `server serve` on a loopback port, and runs
// closed-loop GraphQL traffic over HTTP keep-alive: each of -concurrency
// workers sends its next request when the last one has answered, for
// -duration after a -warmup. It then prints requests per second,
// latency percentiles, errors (and wrong answers), SQL statements per
// request and cache hits (from the server's /metrics, when it has them)
// and the server's resident memory; stops the server with SIGTERM; and
// drops the database.
//
//	loadgen -server bin/grantql -database-url postgres://... -workload hasProjectPerm,checkMany
//
// Workloads: hasProjectPerm (one check per request, as the admin about
// another user), checkMany (50 checks of one user per request),
// viewerPermissions (a viewer asks for its permissions in a project),
// guardedList (a viewer lists 100 pages whose fields are guarded), mixed
// (the four, and 1% writes: grants and revokes on keys that no read
// asks about).
//
// With -soak it runs the soak instead: mixed traffic with 5% writes,
// each write read back at once by the worker that made it; after the
// server has stopped, it counts the decision logs against its own
// accounting and re-checks a sample of answers against the database, and
// exits with status 1 unless every criterion passes.
//
// It refuses to target anything but a loopback address.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/grantql/grantql/internal/workload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
		}
		os.Exit(1)
	}
}

// datasetFlags are the flags passed on to `server seed`.
type datasetFlags struct {
	users, groups, memberships, projects, grants int
	pageProjects, pagesPerProject                int
	checks, tokens                               int
	seed                                         uint64
	shape                                        string
}

func (d datasetFlags) args() []string {
	n := strconv.Itoa
	return []string{
		"--users", n(d.users), "--groups", n(d.groups), "--memberships", n(d.memberships),
		"--projects", n(d.projects), "--grants", n(d.grants),
		"--page-projects", n(d.pageProjects), "--pages-per-project", n(d.pagesPerProject),
		"--checks", n(d.checks), "--tokens", n(d.tokens), "--seed", strconv.FormatUint(d.seed, 10),
		"--shape", d.shape,
	}
}

// options are the load generator's flags.
type options struct {
	server      string
	databaseURL string
	keep        bool
	host        string
	dataset     datasetFlags
	workloads   []string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	cacheSize   string
	serverEnv   []string
	writeShare  float64
	soak        bool
	jsonPath    string
}

// defaultDatabaseURL is where runs go without -database-url:
// BENCH_DATABASE_URL, then TEST_DATABASE_URL, then an SQLite file.
func defaultDatabaseURL() string {
	for _, name := range []string{"BENCH_DATABASE_URL", "TEST_DATABASE_URL"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return "sqlite"
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	var workloads string
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen -server BINARY [flags]\n\nSeeds a fresh database, starts the server on a loopback port and measures it under closed-loop GraphQL load.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.server, "server", "", "the grantql server binary (required; build it with make build)")
	fs.StringVar(&o.databaseURL, "database-url", defaultDatabaseURL(),
		`a postgres:// URL of a server on which to create the run's database, or "sqlite" for a file (env BENCH_DATABASE_URL, then TEST_DATABASE_URL)`)
	fs.BoolVar(&o.keep, "keep", false, "keep the database and the run's folder (workload, server log) afterwards")
	fs.StringVar(&o.host, "addr", "127.0.0.1", "loopback address the server listens on, on a free port")
	fs.IntVar(&o.dataset.users, "users", 10000, "users in the dataset")
	fs.IntVar(&o.dataset.groups, "groups", 500, "groups in the dataset")
	fs.IntVar(&o.dataset.memberships, "memberships", 3, "groups each user joins")
	fs.IntVar(&o.dataset.projects, "projects", 5000, "projects in the dataset")
	fs.IntVar(&o.dataset.grants, "grants", 200000, "grants in the dataset")
	fs.IntVar(&o.dataset.pageProjects, "page-projects", 50, "projects with pages")
	fs.IntVar(&o.dataset.pagesPerProject, "pages-per-project", 120, "pages in each of them")
	fs.IntVar(&o.dataset.checks, "checks", 20000, "checks in the workload")
	fs.IntVar(&o.dataset.tokens, "tokens", 200, "viewers (users with a token) in the workload")
	fs.Uint64Var(&o.dataset.seed, "seed", 1, "seed of the dataset and the workload")
	fs.StringVar(&o.dataset.shape, "shape", "uniform", "shape of the dataset: uniform, or skewed (heavy-tailed groups and projects; docs/benchmarks.md)")
	fs.StringVar(&workloads, "workload", workloadHasProjectPerm, "comma-separated workloads, run one after the other on one server: "+strings.Join(workloadNames, ", "))
	fs.IntVar(&o.concurrency, "concurrency", 32, "workers, each with one request in flight")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measured time of each workload")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "traffic before each measurement, not measured (1m with -soak)")
	fs.StringVar(&o.cacheSize, "cache-size", "", "the server's GRANTQL_CACHE_SIZE (entries; 0 turns the cache off); empty: the server's default")
	fs.Func("server-env", "an extra K=V in the server's environment (repeatable)", func(s string) error {
		k, _, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want K=V, got %q", s)
		}
		o.serverEnv = append(o.serverEnv, s)
		return nil
	})
	fs.Float64Var(&o.writeShare, "writes", -1, "share of operations that are writes in mixed workloads (default 0.01; 0.05 with -soak)")
	fs.BoolVar(&o.soak, "soak", false, "run the soak: mixed traffic with writes read back, then check errors, memory, decision logs and a sample of answers")
	fs.StringVar(&o.jsonPath, "json", "", `also write the results as JSON to this file ("-": standard output)`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.server == "" {
		fs.Usage()
		return nil, errors.New("-server is required")
	}
	if _, err := os.Stat(o.server); err != nil {
		return nil, fmt.Errorf("-server: %w", err)
	}
	if err := loopbackHost(o.host); err != nil {
		return nil, err
	}
	o.workloads = strings.Split(workloads, ",")
	for _, w := range o.workloads {
		if !slices.Contains(workloadNames, w) {
			return nil, fmt.Errorf("unknown workload %q: want %s", w, strings.Join(workloadNames, ", "))
		}
	}
	if o.soak {
		o.workloads = []string{workloadMixed}
		if o.writeShare < 0 {
			o.writeShare = soakWriteShare
		}
		warmupSet := false
		fs.Visit(func(f *flag.Flag) { warmupSet = warmupSet || f.Name == "warmup" })
		if !warmupSet {
			o.warmup = soakWarmup
		}
		for _, kv := range o.serverEnv {
			k, _, _ := strings.Cut(kv, "=")
			if k == "GRANTQL_DECISION_LOG_VERBOSITY" || k == "GRANTQL_DECISION_LOG_SAMPLE" {
				return nil, fmt.Errorf("-soak counts decision logs at the default verbosity and sample rate: drop -server-env %s", k)
			}
		}
	}
	if o.writeShare < 0 {
		o.writeShare = mixedWriteShare
	}
	switch {
	case o.concurrency < 1:
		return nil, errors.New("-concurrency must be at least 1")
	case o.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case o.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case o.writeShare > 1:
		return nil, errors.New("-writes is a share, at most 1")
	}
	if o.cacheSize != "" {
		if n, err := strconv.Atoi(o.cacheSize); err != nil || n < 0 {
			return nil, fmt.Errorf("-cache-size %q: want a number of entries, 0 or more", o.cacheSize)
		}
	}
	return o, nil
}

// report is what -json writes.
type report struct {
	Database string      `json:"database"`
	Dataset  any         `json:"dataset"`
	Results  []*result   `json:"results"`
	Soak     *soakReport `json:"soak,omitempty"`
}

// run is main without the process exit, so that tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "grantql-loadgen-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(stdout, "kept the run's folder %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	db, err := newDatabase(ctx, o.databaseURL, dir)
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(stdout, "kept the database %s\n", redact(db.url))
			return
		}
		if db.drop != nil {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if derr := db.drop(dctx); derr != nil && err == nil {
				err = derr
			}
		}
	}()
	fmt.Fprintf(stdout, "database: %s (%s)\n", db.dialect, redact(db.url))

	workloadPath := filepath.Join(dir, "workload.json")
	if err := runSeed(ctx, o, db.url, workloadPath, stdout); err != nil {
		return err
	}
	wf, err := workload.Read(workloadPath)
	if err != nil {
		return err
	}
	p := prepare(wf)

	addr, err := freePort(o.host)
	if err != nil {
		return err
	}
	env := []string{}
	if o.cacheSize != "" {
		env = append(env, "GRANTQL_CACHE_SIZE="+o.cacheSize)
	}
	if o.soak {
		env = append(env, "GRANTQL_DECISION_LOG_VERBOSITY=1", "GRANTQL_DECISION_LOG_SAMPLE=1")
	}
	env = append(env, o.serverEnv...)
	srv, err := startServer(ctx, o.server, addr, db.url, filepath.Join(dir, "server.log"), env)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.stop()
		}
	}()
	fmt.Fprintf(stdout, "server: %s, pid %d, log %s\n", srv.base(), srv.pid(), srv.logPath)

	client := &http.Client{Timeout: requestTimeout}
	rep := &report{Database: db.dialect, Dataset: wf.Dataset}
	var (
		soakWorkers []*worker
		soakResult  *result
	)
	for _, name := range o.workloads {
		t, err := newTraffic(o, p, srv.addr, name)
		if err != nil {
			return err
		}
		res, workers, err := measure(ctx, o, t, srv, client, name)
		if err != nil {
			return err
		}
		res.print(stdout)
		rep.Results = append(rep.Results, res)
		soakWorkers, soakResult = workers, res
	}

	stopErr := srv.stop()
	stopped = true
	if stopErr != nil && !o.soak {
		return fmt.Errorf("the server did not stop cleanly: %v\n%s", stopErr, srv.logTail(20))
	}
	if o.soak {
		rep.Soak, err = soak(ctx, db.url, p, soakResult, soakWorkers, stopErr)
		if err != nil {
			return err
		}
		rep.Soak.print(stdout)
	}
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, rep, stdout); err != nil {
			return err
		}
	}
	if rep.Soak != nil && !rep.Soak.Pass {
		return errors.New("the soak failed")
	}
	return nil
}

// newTraffic sets up a workload's traffic.
func newTraffic(o *options, p *prepared, addr, name string) (*traffic, error) {
	t := &traffic{addr: addr, p: p, concurrency: o.concurrency}
	if name == workloadMixed {
		for _, k := range []string{kindHasProjectPerm, kindCheckMany, kindViewerPermissions, kindGuardedList} {
			if len(p.byKind[k]) > 0 {
				t.kinds = append(t.kinds, k)
			}
		}
		t.writeShare = o.writeShare
		t.readYourOwn = o.soak
		if o.soak && len(p.writes) == 0 {
			return nil, errors.New("the workload has no write keys: the soak needs a dataset with ordinary users to write about")
		}
	} else if len(p.byKind[name]) > 0 {
		t.kinds = []string{name}
	}
	if len(t.kinds) == 0 {
		return nil, fmt.Errorf("the workload file has no requests for %s: seed a dataset with checks, viewers and pages", name)
	}
	return t, nil
}

// soak judges a soak run after the server has stopped.
func soak(ctx context.Context, dbURL string, p *prepared, res *result, workers []*worker, stopErr error) (*soakReport, error) {
	r := &soakReport{
		Requests: res.Requests, Writes: res.ByKind[kindGrant] + res.ByKind[kindRevoke],
		ReadYourWrites: res.ByKind[kindReadYourWrite], Errors: res.Errors.total(),
		RSSStart: res.RSSStart, RSSEnd: res.RSSEnd, RSSMax: res.RSSMax, RSSByMinute: res.RSSByMinute,
		ServerStopPass: stopErr == nil,
	}
	if stopErr != nil {
		r.ServerStop = stopErr.Error()
	}
	var answered int64
	for _, w := range workers {
		r.LogsExpected += w.stats.logs
		answered += w.stats.answered
	}
	if err := judgeSoak(ctx, r, dbURL, p, workers, answered); err != nil {
		return nil, err
	}
	return r, nil
}

func writeJSON(path string, rep *report, stdout io.Writer) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

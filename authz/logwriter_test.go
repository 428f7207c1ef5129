package authz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
)

// memLogStore is a DecisionLogStore in memory. fail, when set, decides
// whether an attempt at a batch fails; release, when set, makes every
// write wait for it, after announcing the write on started.
type memLogStore struct {
	mu       sync.Mutex
	logs     []authz.DecisionLog
	attempts int
	maxBatch int
	fail     func(attempt int, batch []authz.DecisionLog) error
	started  chan int // the size of each batch whose write began
	release  chan struct{}
	purges   []time.Time
}

func (s *memLogStore) WriteDecisionLogs(ctx context.Context, logs []authz.DecisionLog) error {
	if s.started != nil {
		s.started <- len(logs)
	}
	if s.release != nil {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	s.maxBatch = max(s.maxBatch, len(logs))
	if s.fail != nil {
		if err := s.fail(s.attempts, logs); err != nil {
			return err
		}
	}
	s.logs = append(s.logs, logs...)
	return nil
}

func (s *memLogStore) DecisionLogs(context.Context, authz.DecisionLogFilter, int64, int) ([]authz.DecisionLog, error) {
	return nil, nil
}

func (s *memLogStore) DecisionLogByID(context.Context, int64) (authz.DecisionLog, error) {
	return authz.DecisionLog{}, nil
}

func (s *memLogStore) DecisionLogByUID(context.Context, string) (authz.DecisionLog, error) {
	return authz.DecisionLog{}, nil
}

func (s *memLogStore) PurgeDecisionLogs(_ context.Context, t time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purges = append(s.purges, t)
	return 0, nil
}

// names returns the names of the stored logs, counted.
func (s *memLogStore) names() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, l := range s.logs {
		out[l.Name]++
	}
	return out
}

func deniedLog(name string) authz.DecisionLog {
	return authz.DecisionLog{Name: name, Perm: "projects.view_page", Reason: authz.ReasonNoGrant, RequestID: "req-" + name}
}

func closeWriter(t *testing.T, w *authz.LogWriter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// wantEach fails unless the store holds each name exactly once.
func wantEach(t *testing.T, s *memLogStore, names ...string) {
	t.Helper()
	got := s.names()
	for _, n := range names {
		if got[n] != 1 {
			t.Errorf("log %s stored %d times, want once", n, got[n])
		}
	}
	if len(got) != len(names) {
		t.Errorf("store holds %d distinct logs, want %d", len(got), len(names))
	}
}

// TestLogWriterBackPressure fills the queue while the store is stuck:
// Enqueue then waits instead of dropping, gives up with ctx's error when
// ctx ends, and resumes when the store does.
func TestLogWriterBackPressure(t *testing.T) {
	store := &memLogStore{started: make(chan int, 10), release: make(chan struct{})}
	w := authz.NewLogWriter(store, authz.LogWriterConfig{QueueSize: 4, BatchSize: 2, FlushInterval: time.Hour})
	ctx := context.Background()
	for _, n := range []string{"1", "2"} {
		if err := w.Enqueue(ctx, deniedLog(n)); err != nil {
			t.Fatalf("Enqueue(%s): %v", n, err)
		}
	}
	if n := <-store.started; n != 2 {
		t.Fatalf("first batch = %d logs, want 2", n)
	}
	// The writer is stuck on logs 1 and 2; 3 to 6 fill the queue.
	for _, n := range []string{"3", "4", "5", "6"} {
		if err := w.Enqueue(ctx, deniedLog(n)); err != nil {
			t.Fatalf("Enqueue(%s): %v", n, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Enqueue(cancelled, deniedLog("refused")); !errors.Is(err, context.Canceled) {
		t.Errorf("Enqueue(full queue, cancelled ctx) = %v, want context.Canceled", err)
	}
	if got, want := w.Stats(), (authz.LogWriterStats{Queued: 6}); got != want {
		t.Errorf("Stats() with a full queue = %+v, want %+v", got, want)
	}
	blocked := make(chan error)
	go func() { blocked <- w.Enqueue(ctx, deniedLog("7")) }()
	close(store.release)
	if err := <-blocked; err != nil {
		t.Errorf("Enqueue(7) after the store resumed = %v, want nil", err)
	}
	closeWriter(t, w)
	wantEach(t, store, "1", "2", "3", "4", "5", "6", "7")
	if got, want := w.Stats(), (authz.LogWriterStats{Queued: 7, Written: 7}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// TestLogWriterCloseFlushes: Close writes what is queued at once, without
// waiting for the flush interval, in batches no larger than BatchSize.
func TestLogWriterCloseFlushes(t *testing.T) {
	store := &memLogStore{}
	w := authz.NewLogWriter(store, authz.LogWriterConfig{QueueSize: 1000, BatchSize: 7, FlushInterval: time.Hour})
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprint(i))
		if err := w.Enqueue(context.Background(), deniedLog(names[i])); err != nil {
			t.Fatal(err)
		}
	}
	closeWriter(t, w)
	wantEach(t, store, names...)
	if store.maxBatch > 7 {
		t.Errorf("largest batch = %d logs, want at most BatchSize 7", store.maxBatch)
	}
	if err := w.Enqueue(context.Background(), deniedLog("late")); !errors.Is(err, authz.ErrLogWriterClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrLogWriterClosed", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestLogWriterCloseTimeout: a Close whose ctx ends while the store is
// stuck says how many logs are pending; the writer finishes later.
func TestLogWriterCloseTimeout(t *testing.T) {
	store := &memLogStore{started: make(chan int, 10), release: make(chan struct{})}
	w := authz.NewLogWriter(store, authz.LogWriterConfig{BatchSize: 10, FlushInterval: time.Millisecond})
	for _, n := range []string{"a", "b", "c"} {
		if err := w.Enqueue(context.Background(), deniedLog(n)); err != nil {
			t.Fatal(err)
		}
	}
	<-store.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "still pending") {
		t.Errorf("Close(cancelled) with a stuck store = %v, want context.Canceled saying logs are pending", err)
	}
	close(store.release)
	closeWriter(t, w)
	wantEach(t, store, "a", "b", "c")
}

// TestLogWriterSampling keeps every denied log and about the configured
// fraction of allowed ones, the same ones for the same name and request.
func TestLogWriterSampling(t *testing.T) {
	const n, rate = 2000, 0.25
	run := func() (allowed map[string]int, stats authz.LogWriterStats, store *memLogStore) {
		store = &memLogStore{}
		w := authz.NewLogWriter(store, authz.LogWriterConfig{AllowedSampleRate: rate})
		for i := range n {
			l := deniedLog(fmt.Sprintf("denied-%d", i))
			if err := w.Enqueue(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			l = authz.DecisionLog{Name: "auto-projects.view_page", Allowed: true, RequestID: fmt.Sprintf("req-%d", i)}
			if err := w.Enqueue(context.Background(), l); err != nil {
				t.Fatal(err)
			}
		}
		closeWriter(t, w)
		allowed = map[string]int{}
		for _, l := range store.logs {
			if l.Allowed {
				allowed[l.RequestID]++
			}
		}
		return allowed, w.Stats(), store
	}
	allowed, stats, store := run()
	var deniedNames []string
	for i := range n {
		deniedNames = append(deniedNames, fmt.Sprintf("denied-%d", i))
	}
	names := store.names()
	for _, d := range deniedNames {
		if names[d] != 1 {
			t.Errorf("denied log %s stored %d times, want once", d, names[d])
		}
	}
	// 2,000 draws at 0.25: the standard deviation is about 19, so 400 to
	// 600 is more than five of them either side.
	if k := len(allowed); k < 400 || k > 600 {
		t.Errorf("kept %d of %d allowed logs at rate %v, want about %d", k, n, rate, int(n*rate))
	}
	if want := (authz.LogWriterStats{Queued: int64(n + len(allowed)), Written: int64(n + len(allowed)), SampledOut: int64(n - len(allowed))}); stats != want {
		t.Errorf("Stats() = %+v, want %+v", stats, want)
	}
	again, _, _ := run()
	if len(again) != len(allowed) {
		t.Errorf("second run kept %d allowed logs, first %d: sampling by name and request id is not deterministic", len(again), len(allowed))
	}
	for req := range allowed {
		if again[req] != 1 {
			t.Errorf("request %s kept in the first run, not in the second", req)
		}
	}
}

// TestLogWriterRetries: failed writes are retried; logs the store keeps
// refusing are given up one by one, counted and logged, never silently.
func TestLogWriterRetries(t *testing.T) {
	errBoom := errors.New("boom")
	for _, c := range []struct {
		name        string
		fail        func(attempt int, batch []authz.DecisionLog) error
		wantWritten []string
		wantFailed  int64
		wantLogged  []string
	}{
		{"transient", func(attempt int, _ []authz.DecisionLog) error {
			if attempt <= 2 {
				return errBoom
			}
			return nil
		}, []string{"a", "b", "c"}, 0, []string{"retrying"}},
		{"one bad log", func(_ int, batch []authz.DecisionLog) error {
			for _, l := range batch {
				if l.Name == "b" {
					return errBoom
				}
			}
			return nil
		}, []string{"a", "c"}, 1, []string{"one by one", "decision logs lost", "first=b"}},
		{"store down", func(int, []authz.DecisionLog) error {
			return &authz.UnavailableError{Err: errBoom}
		}, nil, 3, []string{"decision logs lost", "logs=3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			store := &memLogStore{fail: c.fail}
			w := authz.NewLogWriter(store, authz.LogWriterConfig{
				BatchSize: 3, FlushInterval: time.Hour, Retries: 3,
				RetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&buf, nil)),
			})
			for _, n := range []string{"a", "b", "c"} {
				if err := w.Enqueue(context.Background(), deniedLog(n)); err != nil {
					t.Fatal(err)
				}
			}
			closeWriter(t, w)
			wantEach(t, store, c.wantWritten...)
			want := authz.LogWriterStats{Queued: 3, Written: int64(len(c.wantWritten)), Failed: c.wantFailed}
			if got := w.Stats(); got != want {
				t.Errorf("Stats() = %+v, want %+v", got, want)
			}
			for _, s := range c.wantLogged {
				if !strings.Contains(buf.String(), s) {
					t.Errorf("writer's log does not say %q:\n%s", s, buf.String())
				}
			}
		})
	}
}

func TestStartRetention(t *testing.T) {
	store := &memLogStore{}
	stop := authz.StartRetention(context.Background(), store, 30, time.Hour)
	// The first purge runs at once; stop waits for it.
	for {
		store.mu.Lock()
		n := len(store.purges)
		store.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	if len(store.purges) != 1 {
		t.Fatalf("purges after start and stop = %d, want 1", len(store.purges))
	}
	if age := time.Since(store.purges[0]); age < 30*24*time.Hour || age > 30*24*time.Hour+time.Minute {
		t.Errorf("purged logs older than %v, want 30 days", age)
	}

	none := &memLogStore{}
	authz.StartRetention(context.Background(), none, 0, time.Millisecond)()
	if len(none.purges) != 0 {
		t.Errorf("StartRetention(days 0) purged %d times, want never", len(none.purges))
	}
}

// preparingLogStore is a memLogStore that prepares for the coming days
// (as PostgreSQL's store creates partitions ahead).
type preparingLogStore struct {
	memLogStore
	prepared chan time.Time
}

func (s *preparingLogStore) PrepareDecisionLogs(_ context.Context, now time.Time) error {
	s.prepared <- now
	return nil
}

// TestStartRetentionPreparesAhead: the retention run prepares the store
// for the coming days at start, also when logs are kept forever, and
// purges only with a retention.
func TestStartRetentionPreparesAhead(t *testing.T) {
	for _, days := range []int{0, 30} {
		store := &preparingLogStore{prepared: make(chan time.Time, 10)}
		stop := authz.StartRetention(context.Background(), store, days, time.Hour)
		select {
		case now := <-store.prepared:
			if age := time.Since(now); age < 0 || age > time.Minute {
				t.Errorf("StartRetention(days %d) prepared for %v, want now", days, now)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("StartRetention(days %d) did not prepare the store", days)
		}
		stop()
		store.mu.Lock()
		purges := len(store.purges)
		store.mu.Unlock()
		if want := min(days, 1); purges != want {
			t.Errorf("StartRetention(days %d) purged %d times, want %d", days, purges, want)
		}
	}
}

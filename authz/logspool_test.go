package authz_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// WriteDecisionLogsOnce makes memLogStore a replay target: it stores the
// logs whose UID it does not hold yet.
func (s *memLogStore) WriteDecisionLogsOnce(_ context.Context, logs []authz.DecisionLog) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	have := map[string]bool{}
	for _, l := range s.logs {
		have[l.UID] = true
	}
	n := 0
	for _, l := range logs {
		if !have[l.UID] {
			have[l.UID] = true
			s.logs = append(s.logs, l)
			n++
		}
	}
	return n, nil
}

func newSpool(t *testing.T, dir, database string) *authz.LogSpool {
	t.Helper()
	s, err := authz.NewLogSpool(dir, database)
	if err != nil {
		t.Fatalf("NewLogSpool(%s, %s): %v", dir, database, err)
	}
	return s
}

// spoolFiles returns how many complete spool files s holds.
func spoolFiles(t *testing.T, s *authz.LogSpool) int {
	t.Helper()
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// syncWriter is a log destination that goroutines share.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestLogWriterSpillsPendingLogsAtDeadline holds the store inside a write
// while Close's deadline passes: Close must return nil with every log
// spilled (the batch under way, the queue, and the batch being
// collected), and once the held write commits after all, a replay stores
// each of the others exactly once and skips it.
func TestLogWriterSpillsPendingLogsAtDeadline(t *testing.T) {
	store := &memLogStore{started: make(chan int, 10), release: make(chan struct{})}
	spool := newSpool(t, t.TempDir(), "db")
	var logged syncWriter
	w := authz.NewLogWriter(store, authz.LogWriterConfig{QueueSize: 10, BatchSize: 2, FlushInterval: time.Hour,
		Spool: spool, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	var names []string
	for i := range 7 {
		names = append(names, fmt.Sprint(i))
		if err := w.Enqueue(context.Background(), deniedLog(names[i])); err != nil {
			t.Fatalf("Enqueue(%d): %v", i, err)
		}
		if i == 1 {
			<-store.started // the first batch is being written, and stays so
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close past its deadline = %v, want nil: the logs are spilled", err)
	}
	if st := w.Stats(); st.Spilled != 7 || st.Failed != 0 || st.Pending() != 0 {
		t.Errorf("Stats() = %+v, want 7 spilled, none failed or pending", st)
	}
	if n := spoolFiles(t, spool); n != 1 {
		t.Errorf("the spool holds %d files, want 1", n)
	}
	if !strings.Contains(logged.String(), "spilled") || !strings.Contains(logged.String(), "logs=7") {
		t.Errorf("the writer logged %q, want a line saying 7 logs were spilled", logged.String())
	}

	// The held write commits after all: the replay finds its two logs
	// stored and stores the five others.
	close(store.release)
	for len(store.names()) < 2 {
		time.Sleep(time.Millisecond)
	}
	r, err := spool.Replay(context.Background(), store)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if want := (authz.SpoolReplay{Files: 1, Logs: 7, Stored: 5, Present: 2}); r != want {
		t.Errorf("Replay() = %+v, want %+v", r, want)
	}
	wantEach(t, store, names...)
	if n := spoolFiles(t, spool); n != 0 {
		t.Errorf("the spool holds %d files after the replay, want none", n)
	}
}

// TestLogWriterSpillsGivenUpLogs makes the store unreachable: the logs it
// refuses after every retry go to the spool, not to the error log, and
// Close returns nil.
func TestLogWriterSpillsGivenUpLogs(t *testing.T) {
	down := &memLogStore{fail: func(int, []authz.DecisionLog) error {
		return &authz.UnavailableError{Err: fmt.Errorf("connection refused")}
	}}
	spool := newSpool(t, t.TempDir(), "db")
	var logged syncWriter
	w := authz.NewLogWriter(down, authz.LogWriterConfig{BatchSize: 2, FlushInterval: time.Millisecond, Retries: 1,
		RetryBackoff: time.Millisecond, Spool: spool, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for _, n := range []string{"a", "b", "c"} {
		if err := w.Enqueue(context.Background(), deniedLog(n)); err != nil {
			t.Fatal(err)
		}
	}
	closeWriter(t, w)
	if st := w.Stats(); st.Spilled != 3 || st.Failed != 0 || st.Written != 0 {
		t.Errorf("Stats() = %+v, want 3 spilled, none written or failed", st)
	}
	if strings.Contains(logged.String(), "decision logs lost") {
		t.Errorf("the writer logged lost logs:\n%s", logged.String())
	}
	up := &memLogStore{}
	if _, err := spool.Replay(context.Background(), up); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	wantEach(t, up, "a", "b", "c")
}

// TestLogWriterGivesEveryLogAUID enqueues a log without a UID: it is
// stored with one, since the UID is what makes a spilled log's replay
// idempotent.
func TestLogWriterGivesEveryLogAUID(t *testing.T) {
	store := &memLogStore{}
	w := authz.NewLogWriter(store, authz.LogWriterConfig{FlushInterval: time.Millisecond})
	if err := w.Enqueue(context.Background(), deniedLog("a")); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)
	if len(store.logs) != 1 || len(store.logs[0].UID) != 32 {
		t.Errorf("stored %+v, want one log with a 32-digit UID", store.logs)
	}
}

// TestLogSpoolRoundTrip spills logs with every field set and reads them
// back unchanged; a spool for another database sees none of its files,
// and a directory that cannot be written is refused when the spool is
// opened, not when it is needed.
func TestLogSpoolRoundTrip(t *testing.T) {
	dir := t.TempDir()
	spool := newSpool(t, dir, "sqlite:/var/lib/grantql.db")
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	logs := []authz.DecisionLog{
		{UID: "0190aaaa000000000000000000000001", Name: "auto-projects.delete_page-17", Perm: "projects.delete_page",
			Allowed: true, Reason: authz.ReasonObjectRule, User: 54, Project: 7, ObjectType: "Page", ObjectID: "17",
			Entries: []authz.LogEntry{auto("Model-level Result: Granted"), untagged("rule line \u00e9\n"), {Text: "t", Tags: []string{"x", "y"}}},
			Source:  "Query.check", RequestID: "req-1", Backend: "builtin", CreatedAt: at},
		{UID: "0190aaaa000000000000000000000002", Name: "auto-auth.view_user", Perm: "auth.view_user",
			Reason: authz.ReasonAnonymous, CreatedAt: at.Add(time.Microsecond)},
	}
	path, err := spool.Spill(logs)
	if err != nil {
		t.Fatalf("Spill: %v", err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("Spill wrote %s, want a file in %s", path, dir)
	}
	if other := newSpool(t, dir, "sqlite:/elsewhere.db"); spoolFiles(t, other) != 0 {
		t.Errorf("a spool for another database sees %d files, want none", spoolFiles(t, other))
	}
	got := &memLogStore{}
	if _, err := spool.Replay(context.Background(), got); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if diff := cmp.Diff(logs, got.logs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("replayed logs mismatch (-want +got):\n%s", diff)
	}

	// A directory that cannot be made: its parent is a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := authz.NewLogSpool(filepath.Join(file, "spool"), "db"); err == nil {
		t.Errorf("NewLogSpool(%s) = nil error, want one: no file can be written there", filepath.Join(file, "spool"))
	}
}

// TestSpoolReplayIsIdempotent replays, into each database, spools whose
// logs are partly stored already: logs written after all while they were
// spilled, a replay that a crash cut short after committing its first
// logs, and the same logs spilled twice. Every log must be stored exactly
// once, and the spool left empty.
func TestSpoolReplayIsIdempotent(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		store := models.NewStore(db)
		spool := newSpool(t, t.TempDir(), db.Identity())
		mk := func(from, to int) []authz.DecisionLog {
			var logs []authz.DecisionLog
			for i := from; i < to; i++ {
				l := deniedLog(fmt.Sprint(i))
				l.UID = fmt.Sprintf("0190bbbb%024d", i)
				l.Entries = []authz.LogEntry{auto("RESULT: Permission Denied")}
				logs = append(logs, l)
			}
			return logs
		}
		spill := func(logs []authz.DecisionLog) {
			if _, err := spool.Spill(logs); err != nil {
				t.Fatalf("Spill: %v", err)
			}
		}
		// Logs 0-9 are spilled, and 0-3 were written after all.
		spill(mk(0, 10))
		if err := store.WriteDecisionLogs(ctx, mk(0, 4)); err != nil {
			t.Fatal(err)
		}
		// Logs 10-19 are spilled, and a replay committed 10-14 before
		// the process died, leaving the file.
		spill(mk(10, 20))
		if n, err := store.WriteDecisionLogsOnce(ctx, mk(10, 15)); err != nil || n != 5 {
			t.Fatalf("WriteDecisionLogsOnce(10-14) = %d, %v; want 5, nil", n, err)
		}
		// Logs 20-24 are spilled twice (by the stopping writer and by
		// Close), and once more within one file.
		spill(mk(20, 25))
		spill(append(mk(20, 25), mk(20, 25)...))

		r, err := spool.Replay(ctx, store)
		if err != nil {
			t.Fatalf("Replay: %v", err)
		}
		if want := (authz.SpoolReplay{Files: 4, Logs: 10 + 10 + 5 + 10, Stored: 6 + 5 + 5, Present: 4 + 5 + 0 + 10}); r != want {
			t.Errorf("Replay() = %+v, want %+v", r, want)
		}
		var counts []struct {
			UID string
			N   int
		}
		if err := db.Gorm.Raw(`SELECT uid, COUNT(*) AS n FROM decision_logs GROUP BY uid ORDER BY uid`).Scan(&counts).Error; err != nil {
			t.Fatal(err)
		}
		if len(counts) != 25 {
			t.Errorf("decision_logs holds %d distinct uids, want 25", len(counts))
		}
		for _, c := range counts {
			if c.N != 1 {
				t.Errorf("log %s stored %d times, want once", c.UID, c.N)
			}
		}
		if n := spoolFiles(t, spool); n != 0 {
			t.Errorf("the spool holds %d files after the replay, want none", n)
		}
		// A second replay finds nothing to do.
		if r, err := spool.Replay(ctx, store); err != nil || r != (authz.SpoolReplay{}) {
			t.Errorf("second Replay() = %+v, %v; want nothing done", r, err)
		}
	})
}

// BenchmarkLogSpoolSpill spills a full default queue, 10,000 logs of the
// shape a check at verbosity 1 makes, into one fsync'd file: the work a
// shutdown does when its deadline passes with the queue full.
func BenchmarkLogSpoolSpill(b *testing.B) {
	spool, err := authz.NewLogSpool(b.TempDir(), "db")
	if err != nil {
		b.Fatal(err)
	}
	logs := make([]authz.DecisionLog, authz.DefaultLogWriterConfig().QueueSize)
	for i := range logs {
		logs[i] = authz.DecisionLog{UID: fmt.Sprintf("0190dddd%024d", i), Name: fmt.Sprintf("auto-projects.view_page-%d", i),
			Perm: "projects.view_page", Allowed: true, Reason: authz.ReasonProjectUser, User: 54, Project: 7,
			ObjectType: "Page", ObjectID: fmt.Sprint(i), Source: "Query.check", RequestID: "0123456789abcdef0123456789abcdef",
			Entries:   []authz.LogEntry{auto("Model-level Result: Granted"), auto("RESULT: Permission Granted")},
			CreatedAt: time.Now().UTC()}
	}
	for b.Loop() {
		path, err := spool.Spill(logs)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(path)
		b.StartTimer()
	}
}

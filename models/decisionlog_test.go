package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// logBase is the creation time of the test logs: in the future, with
// microseconds, so that time filters and purges are exercised with times
// both dialects keep exactly.
var logBase = time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

func ptr[T any](v T) *T { return &v }

// mustUser creates an active, non-superuser user.
func mustUser(t *testing.T, s *models.Store, name string) authz.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), authz.User{Username: name, IsActive: true})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// mustProject creates a project without a creator.
func mustProject(t *testing.T, s *models.Store, name string) authz.Project {
	t.Helper()
	p, err := s.CreateProject(context.Background(), name, 0, nil)
	if err != nil {
		t.Fatalf("CreateProject(%s): %v", name, err)
	}
	return p
}

func count(t *testing.T, db *models.DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm.Raw(sql, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// sampleLogs returns five logs about alice, bob and an anonymous user in
// projects p1 and p2, an hour apart, oldest first.
func sampleLogs(alice, bob, p1, p2 int64) []authz.DecisionLog {
	auto := []string{"auto"}
	return []authz.DecisionLog{
		{Name: "auto-projects.view_page-1", Perm: "projects.view_page", Allowed: true, Reason: authz.ReasonProjectUser,
			User: alice, Project: p1, ObjectType: "Page", ObjectID: "1",
			Entries: []authz.LogEntry{{Text: "Model-level Result: Granted", Tags: auto}, {Text: "RESULT: Permission Granted", Tags: auto}},
			Source:  "Query.page", RequestID: "req-1", Backend: "builtin", CreatedAt: logBase},
		{Name: "auto-projects.delete_page-2", Perm: "projects.delete_page", Allowed: false, Reason: authz.ReasonNoGrant,
			User: bob, Project: p2, ObjectType: "Page", ObjectID: "2",
			Entries: []authz.LogEntry{{Text: "Model-level Result: Denied", Tags: auto}, {Text: "RESULT: Permission Denied", Tags: []string{"auto", "publish"}}},
			Source:  "Mutation.deletePage", RequestID: "req-2", Backend: "builtin", CreatedAt: logBase.Add(30 * time.Minute)},
		{Name: "auto-auth.view_user", Perm: "auth.view_user", Allowed: false, Reason: authz.ReasonAnonymous,
			Entries: []authz.LogEntry{{Text: "RESULT: Permission Denied", Tags: auto}},
			Source:  "Query.user", RequestID: "req-3", CreatedAt: logBase.Add(time.Hour)},
		{Name: "auto-projects.delete_page-1", Perm: "projects.delete_page", Allowed: false, Reason: authz.ReasonDeniedByRule,
			User: alice, Project: p1, ObjectType: "Page", ObjectID: "1",
			Entries: []authz.LogEntry{
				{Text: "Model-level Result: Granted", Tags: auto},
				{Text: "The page is published: deleting it needs projects.publish_page."},
				{Text: "publish_page denied", Tags: []string{"rule"}},
				{Text: "RESULT: Permission Denied", Tags: auto},
			},
			Source: "Mutation.deletePage", RequestID: "req-4", Backend: "builtin", CreatedAt: logBase.Add(2 * time.Hour)},
		{Name: "auto-authz.view_decisionlog-1", Perm: "authz.view_decisionlog", Allowed: true, Reason: authz.ReasonSuperuser,
			User: alice, ObjectType: "Doc", ObjectID: "1",
			Source: "Query.decisionLogs", RequestID: "req-5", Backend: "builtin", CreatedAt: logBase.Add(3 * time.Hour)},
	}
}

var logCmp = cmp.Options{cmpopts.EquateEmpty()}

func TestDecisionLogsRoundTrip(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
		logs := sampleLogs(alice.ID, bob.ID, p1.ID, p2.ID)
		if err := s.WriteDecisionLogs(ctx, logs); err != nil {
			t.Fatalf("WriteDecisionLogs: %v", err)
		}
		for i := 1; i < len(logs); i++ {
			if logs[i].ID <= logs[i-1].ID {
				t.Fatalf("WriteDecisionLogs set ids %d then %d, want increasing", logs[i-1].ID, logs[i].ID)
			}
		}
		// A page of logs, with their lines, is one statement; so is one log.
		var counter models.StatementCounter
		counted := counter.WithCounting(ctx)
		got, err := s.DecisionLogs(counted, authz.DecisionLogFilter{}, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n := counter.Count(); n != 1 {
			t.Errorf("DecisionLogs ran %d statements, want 1", n)
		}
		want := slices.Clone(logs)
		slices.Reverse(want)
		if diff := cmp.Diff(want, got, logCmp); diff != "" {
			t.Errorf("DecisionLogs(no filter) mismatch (-want +got):\n%s", diff)
		}
		for _, l := range logs {
			counter.Reset()
			one, err := s.DecisionLogByID(counted, l.ID)
			if err != nil {
				t.Fatalf("DecisionLogByID(%d): %v", l.ID, err)
			}
			if n := counter.Count(); n != 1 {
				t.Errorf("DecisionLogByID(%d) ran %d statements, want 1", l.ID, n)
			}
			if diff := cmp.Diff(l, one, logCmp); diff != "" {
				t.Errorf("DecisionLogByID(%d) mismatch (-want +got):\n%s", l.ID, diff)
			}
		}
		var nf *authz.NotFoundError
		if _, err := s.DecisionLogByID(ctx, logs[4].ID+100); !errors.As(err, &nf) {
			t.Errorf("DecisionLogByID(unknown) = %v, want a *NotFoundError", err)
		}
		// auto is a flag of the log's row; the other tags are rows.
		if n := count(t, db, "SELECT COUNT(*) FROM decision_log_tags"); n != 2 {
			t.Errorf("decision_log_tags rows = %d, want 2 (publish and rule: one per distinct tag other than auto per log)", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM decision_logs WHERE auto_tagged"); n != 4 {
			t.Errorf("auto-tagged logs = %d, want 4 (all but the log without lines)", n)
		}
	})
}

func TestDecisionLogsFilter(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
		logs := sampleLogs(alice.ID, bob.ID, p1.ID, p2.ID)
		if err := s.WriteDecisionLogs(ctx, logs); err != nil {
			t.Fatalf("WriteDecisionLogs: %v", err)
		}
		// want lists indexes into logs, newest first.
		for _, c := range []struct {
			name string
			f    authz.DecisionLogFilter
			want []int
		}{
			{"none", authz.DecisionLogFilter{}, []int{4, 3, 2, 1, 0}},
			{"user", authz.DecisionLogFilter{User: &alice.ID}, []int{4, 3, 0}},
			{"anonymous user", authz.DecisionLogFilter{User: ptr(int64(0))}, []int{2}},
			{"unknown user", authz.DecisionLogFilter{User: ptr(alice.ID + 100)}, nil},
			{"permission", authz.DecisionLogFilter{Perm: ptr("projects.delete_page")}, []int{3, 1}},
			{"project", authz.DecisionLogFilter{Project: &p1.ID}, []int{3, 0}},
			{"no project", authz.DecisionLogFilter{Project: ptr(int64(0))}, []int{4, 2}},
			{"object type", authz.DecisionLogFilter{ObjectType: ptr("Page")}, []int{3, 1, 0}},
			{"object", authz.DecisionLogFilter{ObjectType: ptr("Page"), ObjectID: ptr("1")}, []int{3, 0}},
			{"object id alone", authz.DecisionLogFilter{ObjectID: ptr("1")}, []int{4, 3, 0}},
			{"no object", authz.DecisionLogFilter{ObjectType: ptr("")}, []int{2}},
			{"allowed", authz.DecisionLogFilter{Allowed: ptr(true)}, []int{4, 0}},
			{"denied", authz.DecisionLogFilter{Allowed: ptr(false)}, []int{3, 2, 1}},
			{"reason", authz.DecisionLogFilter{Reason: ptr(authz.ReasonNoGrant)}, []int{1}},
			{"name", authz.DecisionLogFilter{Name: ptr("auto-projects.view_page-1")}, []int{0}},
			{"tag auto", authz.DecisionLogFilter{Tag: ptr("auto")}, []int{3, 2, 1, 0}},
			{"tag on one entry", authz.DecisionLogFilter{Tag: ptr("publish")}, []int{1}},
			{"tag of a rule line", authz.DecisionLogFilter{Tag: ptr("rule")}, []int{3}},
			{"unknown tag", authz.DecisionLogFilter{Tag: ptr("nope")}, nil},
			{"since", authz.DecisionLogFilter{Since: ptr(logBase.Add(time.Hour))}, []int{4, 3, 2}},
			{"until", authz.DecisionLogFilter{Until: ptr(logBase.Add(time.Hour))}, []int{1, 0}},
			{"since and until", authz.DecisionLogFilter{Since: ptr(logBase.Add(time.Hour)), Until: ptr(logBase.Add(3 * time.Hour))}, []int{3, 2}},
			{"since in another zone", authz.DecisionLogFilter{Since: ptr(logBase.Add(time.Hour).In(time.FixedZone("X", -5*3600)))}, []int{4, 3, 2}},
			{"user and denied", authz.DecisionLogFilter{User: &alice.ID, Allowed: ptr(false)}, []int{3}},
			{"tag and user", authz.DecisionLogFilter{Tag: ptr("auto"), User: &alice.ID}, []int{3, 0}},
			{"tag and time", authz.DecisionLogFilter{Tag: ptr("auto"), Until: ptr(logBase.Add(time.Hour))}, []int{1, 0}},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.DecisionLogs(ctx, c.f, 0, 100)
				if err != nil {
					t.Fatalf("DecisionLogs(%s): %v", c.name, err)
				}
				var want []authz.DecisionLog
				for _, i := range c.want {
					want = append(want, logs[i])
				}
				if diff := cmp.Diff(want, got, logCmp); diff != "" {
					t.Errorf("DecisionLogs(%s) mismatch (-want +got):\n%s", c.name, diff)
				}
			})
		}
	})
}

func TestDecisionLogsPaging(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		alice := mustUser(t, s, "alice")
		var logs []authz.DecisionLog
		for i := range 25 {
			l := authz.DecisionLog{Name: fmt.Sprintf("log-%02d", i), Perm: "projects.view_page", Reason: authz.ReasonNoGrant,
				CreatedAt: logBase.Add(time.Duration(i) * time.Second)}
			if i%2 == 0 {
				l.User, l.Allowed, l.Reason = alice.ID, true, authz.ReasonGlobalUser
				l.Entries = []authz.LogEntry{{Text: "even", Tags: []string{"even"}}}
			}
			logs = append(logs, l)
		}
		// Two batches, so that ids keep growing across transactions.
		if err := s.WriteDecisionLogs(ctx, logs[:10]); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteDecisionLogs(ctx, logs[10:]); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			f     authz.DecisionLogFilter
			limit int
			want  []string // names, newest first
		}{
			{"all by 10", authz.DecisionLogFilter{}, 10, names(logs, func(int) bool { return true })},
			{"all by 1", authz.DecisionLogFilter{}, 1, names(logs, func(int) bool { return true })},
			{"user by 4", authz.DecisionLogFilter{User: &alice.ID}, 4, names(logs, func(i int) bool { return i%2 == 0 })},
			{"tag by 5", authz.DecisionLogFilter{Tag: ptr("even")}, 5, names(logs, func(i int) bool { return i%2 == 0 })},
			{"denied by 3", authz.DecisionLogFilter{Allowed: ptr(false)}, 3, names(logs, func(i int) bool { return i%2 == 1 })},
		} {
			t.Run(c.name, func(t *testing.T) {
				var got []string
				before := int64(0)
				for page := 0; ; page++ {
					if page > len(logs) {
						t.Fatalf("DecisionLogs(%s) did not stop paging", c.name)
					}
					ls, err := s.DecisionLogs(ctx, c.f, before, c.limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(ls) > c.limit {
						t.Fatalf("DecisionLogs(%s, limit %d) = %d logs", c.name, c.limit, len(ls))
					}
					for _, l := range ls {
						got = append(got, l.Name)
					}
					if len(ls) < c.limit {
						break
					}
					before = ls[len(ls)-1].ID
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("DecisionLogs(%s) pages mismatch (-want +got):\n%s", c.name, diff)
				}
			})
		}
		if ls, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, 0, 0); err != nil || len(ls) != 0 {
			t.Errorf("DecisionLogs(limit 0) = %d logs, %v, want 0, nil", len(ls), err)
		}
	})
}

// names returns the names of the logs that keep selects, newest first.
func names(logs []authz.DecisionLog, keep func(i int) bool) []string {
	var out []string
	for i := len(logs) - 1; i >= 0; i-- {
		if keep(i) {
			out = append(out, logs[i].Name)
		}
	}
	return out
}

// TestPurgeDecisionLogs: a purge removes the logs of the days (UTC) that
// end at or before its time, whole days (on PostgreSQL their partitions),
// with their tags, and keeps every other log.
func TestPurgeDecisionLogs(t *testing.T) {
	// Two logs per statement, so that on SQLite the purges below take one
	// chunk, a full chunk and an empty one, and two chunks.
	models.SetPurgeChunk(t, 2)
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
		logs := sampleLogs(alice.ID, bob.ID, p1.ID, p2.ID)
		// Three days: log 0 on May 4, logs 1 and 2 on May 5, 3 and 4 on May 6.
		logs[0].CreatedAt = logBase.Add(-48 * time.Hour)
		logs[1].CreatedAt = logBase.Add(-24 * time.Hour)
		logs[2].CreatedAt = logBase.Add(-23 * time.Hour)
		if err := s.WriteDecisionLogs(ctx, logs); err != nil {
			t.Fatal(err)
		}
		may := func(d int) time.Time { return time.Date(2031, 5, d, 0, 0, 0, 0, time.UTC) }
		for _, c := range []struct {
			before      time.Time
			wantDeleted int64
			wantLeft    []int
		}{
			{logBase.Add(-47 * time.Hour), 0, []int{4, 3, 2, 1, 0}}, // May 4 is not over
			{may(5), 1, []int{4, 3, 2, 1}},
			{may(5).Add(time.Hour), 0, []int{4, 3, 2, 1}},
			{logBase, 2, []int{4, 3}},
			{may(7).Add(-time.Microsecond), 0, []int{4, 3}},
			{may(7), 2, nil},
		} {
			n, err := s.PurgeDecisionLogs(ctx, c.before)
			if err != nil || n != c.wantDeleted {
				t.Errorf("PurgeDecisionLogs(%v) = %d, %v, want %d, nil", c.before, n, err, c.wantDeleted)
			}
			got, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, i := range c.wantLeft {
				want = append(want, logs[i].Name)
			}
			var gotNames []string
			for _, l := range got {
				gotNames = append(gotNames, l.Name)
			}
			if diff := cmp.Diff(want, gotNames); diff != "" {
				t.Errorf("logs left after PurgeDecisionLogs(%v) mismatch (-want +got):\n%s", c.before, diff)
			}
		}
		if n := count(t, db, "SELECT COUNT(*) FROM decision_log_tags"); n != 0 {
			t.Errorf("decision_log_tags holds %d rows after every log was purged, want 0", n)
		}
	})
}

// TestWriteDecisionLogsSurvivesBadInput: what the store cannot keep as it
// is must not fail the batch, as a failed batch loses every log in it.
func TestWriteDecisionLogsSurvivesBadInput(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		carol := mustUser(t, s, "carol")
		p := mustProject(t, s, "gone")
		long := strings.Repeat("é", 300)
		logs := []authz.DecisionLog{
			{Name: "deleted user and project", Perm: "projects.view_page", Reason: authz.ReasonNoGrant, User: carol.ID, Project: p.ID},
			{Name: "never existed", Perm: "projects.view_page", Reason: authz.ReasonNoGrant, User: carol.ID + 1000, Project: p.ID + 1000},
			{Name: long, Perm: "projects.view_page", Reason: authz.ReasonNoGrant, ObjectType: long, ObjectID: "a\x00b\xff" + long,
				Source: long, RequestID: long, Backend: long,
				Entries: []authz.LogEntry{{Text: "nul \x00 and bad \xff bytes", Tags: []string{"a,b", "", long}}}},
		}
		if _, err := s.DeleteUser(ctx, carol.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteDecisionLogs(ctx, logs); err != nil {
			t.Fatalf("WriteDecisionLogs: %v", err)
		}
		got, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, 0, 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("DecisionLogs = %d logs, %v, want 3", len(got), err)
		}
		for _, l := range got[1:] {
			if l.User != 0 || l.Project != 0 {
				t.Errorf("log %q: user %d, project %d, want 0, 0 for a user and project that do not exist", l.Name, l.User, l.Project)
			}
		}
		odd := got[0]
		if n := len([]rune(odd.ObjectID)); n != 100 || !strings.HasPrefix(odd.ObjectID, "ab\uFFFD") {
			t.Errorf("object id stored as %q (%d characters), want it cleaned and clipped to 100", odd.ObjectID[:10], n)
		}
		if e := odd.Entries[0]; e.Text != "nul  and bad \uFFFD bytes" || !slices.Equal(e.Tags, []string{"a_b", strings.Repeat("é", 100)}) {
			t.Errorf("entry stored as %q with tags %q, want it cleaned", e.Text, e.Tags)
		}
	})
}

// TestDecisionLogUsername: a log keeps the username it was written with
// after the user is deleted (user_id becomes NULL, and project_id when
// its project is deleted, though PostgreSQL's decision_logs has no
// foreign keys).
func TestDecisionLogUsername(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		dave := mustUser(t, s, "dave")
		p := mustProject(t, s, "gone")
		l := []authz.DecisionLog{{Name: "auto-auth.view_user", Perm: "auth.view_user", Reason: authz.ReasonNoGrant, User: dave.ID,
			Project: p.ID}}
		if err := s.WriteDecisionLogs(ctx, l); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteUser(ctx, dave.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if left, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{User: ptr(int64(0)), Project: ptr(int64(0))}, 0, 10); err != nil ||
			len(left) != 1 || left[0].ID != l[0].ID {
			t.Errorf("DecisionLogs(user 0, project 0) = %d logs, %v, want the log of the deleted user and project", len(left), err)
		}
		var row models.DecisionLog
		if err := db.Gorm.Take(&row, l[0].ID).Error; err != nil {
			t.Fatal(err)
		}
		if row.UserID != nil || row.Username != "dave" {
			t.Errorf("log of a deleted user: user_id %v, username %q, want NULL, dave", row.UserID, row.Username)
		}
	})
}

// writerLogs is how many logs TestLogWriterLosesNothing enqueues, from
// writerSenders goroutines: 10,000 checks from 32 goroutines.
const (
	writerLogs    = 10000
	writerSenders = 32
)

// TestLogWriterLosesNothing enqueues 10,000 logs from 32 goroutines
// through a queue much smaller than that, closes the writer, and counts
// the rows: every log is stored exactly once.
func TestLogWriterLosesNothing(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		u := mustUser(t, s, "erin")
		w := authz.NewLogWriter(s, authz.LogWriterConfig{QueueSize: 256, BatchSize: 500, FlushInterval: 10 * time.Millisecond})
		var wg sync.WaitGroup
		errs := make(chan error, writerLogs)
		for g := range writerSenders {
			wg.Go(func() {
				for i := g; i < writerLogs; i += writerSenders {
					l := authz.DecisionLog{Name: fmt.Sprintf("log-%05d", i), Perm: "projects.view_page", Allowed: i%3 != 0,
						Reason: authz.ReasonNoGrant, User: u.ID, RequestID: fmt.Sprintf("req-%d", i),
						Entries: []authz.LogEntry{{Text: "Model-level Result: Granted", Tags: []string{"auto"}}, {Text: "RESULT", Tags: []string{"auto"}}}}
					if err := w.Enqueue(ctx, l); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		closeCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := w.Close(closeCtx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		close(errs)
		for err := range errs {
			t.Errorf("Enqueue: %v", err)
		}
		for _, c := range []struct {
			sql  string
			want int64
		}{
			{"SELECT COUNT(*) FROM decision_logs", writerLogs},
			{"SELECT COUNT(DISTINCT name) FROM decision_logs", writerLogs},
			{"SELECT COUNT(*) FROM decision_logs WHERE auto_tagged", writerLogs},
			{"SELECT COUNT(*) FROM decision_log_tags", 0},
		} {
			if got := count(t, db, c.sql); got != c.want {
				t.Errorf("%s = %d, want %d", c.sql, got, c.want)
			}
		}
		want := authz.LogWriterStats{Queued: writerLogs, Written: writerLogs}
		if got := w.Stats(); got != want {
			t.Errorf("Stats() = %+v, want %+v", got, want)
		}
		if err := w.Enqueue(ctx, authz.DecisionLog{Name: "late"}); !errors.Is(err, authz.ErrLogWriterClosed) {
			t.Errorf("Enqueue after Close = %v, want ErrLogWriterClosed", err)
		}
	})
}

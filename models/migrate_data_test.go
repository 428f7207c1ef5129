package models_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// storedLine is a row of decision_log_entries, the table migration 00008
// folds into decision_logs.entries.
type storedLine struct {
	DecisionLogID int64
	Position      int
	Text          string
	Tags          string
}

// TestDecisionLogEntriesMigration writes logs as migration 00007 stored
// them (lines in decision_log_entries, every tag in decision_log_tags),
// migrates up, and reads them back through the store; then migrates down
// again and finds the rows it started from.
func TestDecisionLogEntriesMigration(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, m := emptyMigrator(t, dialect)
			if err := m.UpTo(ctx, 7); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			for i, name := range []string{"auto-projects.view_page", "auto-projects.delete_page-9", "no lines"} {
				err := db.Gorm.Exec(`INSERT INTO decision_logs (id, uid, name, permission, allowed, reason, source, request_id, backend, username, created_at)
					VALUES (?, ?, ?, 'projects.view_page', ?, 'NO_GRANT', 'Query.hasProjectPerm', 'req', 'builtin', 'alice', ?)`,
					i+1, name+"-uid", name, i == 0, at.Add(time.Duration(i)*time.Minute)).Error
				if err != nil {
					t.Fatal(err)
				}
			}
			lines := []storedLine{
				{1, 0, "Model-level Result: Granted", "auto"},
				{1, 1, "RESULT: Permission Granted", "auto"},
				{2, 0, "Model-level Result: Granted", "auto"},
				{2, 1, `The page is "published", C:\pages needs é`, ""},
				{2, 2, "publish_page denied", `rule,we"ird,x\y`},
				{2, 3, "RESULT: Permission Denied", "auto,publish"},
			}
			for _, l := range lines {
				if err := db.Gorm.Exec(`INSERT INTO decision_log_entries (decision_log_id, position, text, tags) VALUES (?, ?, ?, ?)`,
					l.DecisionLogID, l.Position, l.Text, l.Tags).Error; err != nil {
					t.Fatal(err)
				}
			}
			tags := [][2]any{{1, "auto"}, {2, "auto"}, {2, "rule"}, {2, `we"ird`}, {2, `x\y`}, {2, "publish"}}
			for _, tg := range tags {
				if err := db.Gorm.Exec(`INSERT INTO decision_log_tags (decision_log_id, tag) VALUES (?, ?)`, tg[0], tg[1]).Error; err != nil {
					t.Fatal(err)
				}
			}

			if _, err := m.Up(ctx); err != nil {
				t.Fatal(err)
			}
			s := models.NewStore(db)
			got, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			auto := []string{"auto"}
			want := [][]authz.LogEntry{
				{},
				{
					{Text: "Model-level Result: Granted", Tags: auto},
					{Text: `The page is "published", C:\pages needs é`, Tags: []string{}},
					{Text: "publish_page denied", Tags: []string{"rule", `we"ird`, `x\y`}},
					{Text: "RESULT: Permission Denied", Tags: []string{"auto", "publish"}},
				},
				{{Text: "Model-level Result: Granted", Tags: auto}, {Text: "RESULT: Permission Granted", Tags: auto}},
			}
			if len(got) != 3 {
				t.Fatalf("DecisionLogs after the migration = %d logs, want 3", len(got))
			}
			for i, l := range got {
				if diff := cmp.Diff(want[i], l.Entries); diff != "" {
					t.Errorf("log %q: entries after the migration (-want +got):\n%s", l.Name, diff)
				}
			}
			for _, c := range []struct {
				tag  string
				want []int64
			}{{"auto", []int64{2, 1}}, {"publish", []int64{2}}, {`we"ird`, []int64{2}}, {"none", nil}} {
				logs, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{Tag: &c.tag}, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int64
				for _, l := range logs {
					ids = append(ids, l.ID)
				}
				if diff := cmp.Diff(c.want, ids); diff != "" {
					t.Errorf("logs tagged %q after the migration (-want +got):\n%s", c.tag, diff)
				}
			}

			if err := m.DownTo(ctx, 7); err != nil {
				t.Fatal(err)
			}
			var back []storedLine
			if err := db.Gorm.Raw(`SELECT decision_log_id, position, text, tags FROM decision_log_entries
				ORDER BY decision_log_id, position`).Scan(&back).Error; err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(lines, back); diff != "" {
				t.Errorf("decision_log_entries after migrating down (-want +got):\n%s", diff)
			}
			var tagsBack int64
			if err := db.Gorm.Raw(`SELECT COUNT(*) FROM decision_log_tags`).Scan(&tagsBack).Error; err != nil {
				t.Fatal(err)
			}
			if tagsBack != int64(len(tags)) {
				t.Errorf("decision_log_tags after migrating down = %d rows, want %d", tagsBack, len(tags))
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("Up after migrating down: %v", err)
			}
		})
	}
}

// TestDecisionLogPartitionsMigration writes logs of two days into
// PostgreSQL's decision_logs as migration 00009 left it, migrates up
// (00010 partitions the table), and finds them by id, by uid and in the
// list, in the partitions of their days; a log written next takes an id
// after theirs. Migrating down puts every log back in one table, and the
// next log again takes a fresh id.
func TestDecisionLogPartitionsMigration(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, m := emptyMigrator(t, dialect)
			if err := m.UpTo(ctx, 9); err != nil {
				t.Fatal(err)
			}
			days := []time.Time{time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
			ids := []int64{3, 7, 5}
			for i, id := range ids {
				err := db.Gorm.Exec(`INSERT INTO decision_logs (id, uid, name, permission, allowed, reason, created_at, entries)
					VALUES (?, ?, ?, 'projects.view_page', TRUE, 'NO_GRANT', ?, '[]')`,
					id, fmt.Sprintf("uid-%d", id), fmt.Sprintf("log-%d", id), days[i%2]).Error
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatal(err)
			}
			s := models.NewStore(db)
			if dialect == models.Postgres {
				got, err := s.DecisionLogPartitions(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range days {
					if !slices.Contains(got, d.Truncate(24*time.Hour)) {
						t.Errorf("partitions after the migration = %v, want one of %v", got, d.Truncate(24*time.Hour))
					}
				}
			}
			wantNames := func(step string, want ...string) {
				t.Helper()
				logs, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, l := range logs {
					got = append(got, l.Name)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("logs %s (-want +got):\n%s", step, diff)
				}
			}
			wantNames("after the migration", "log-7", "log-5", "log-3")
			for i, id := range ids {
				byID, err := s.DecisionLogByID(ctx, id)
				if err != nil || byID.Name != fmt.Sprintf("log-%d", id) || !byID.CreatedAt.Equal(days[i%2]) {
					t.Errorf("DecisionLogByID(%d) = %q at %v, %v", id, byID.Name, byID.CreatedAt, err)
				}
				byUID, err := s.DecisionLogByUID(ctx, fmt.Sprintf("uid-%d", id))
				if err != nil || byUID.ID != id {
					t.Errorf("DecisionLogByUID(uid-%d) = log %d, %v", id, byUID.ID, err)
				}
			}
			next := []authz.DecisionLog{{Name: "log-next", Perm: "auth.view_user", Reason: authz.ReasonNoGrant, CreatedAt: days[1]}}
			if err := s.WriteDecisionLogs(ctx, next); err != nil || next[0].ID <= 7 {
				t.Fatalf("WriteDecisionLogs after the migration: id %d, %v, want an id after 7", next[0].ID, err)
			}
			if err := m.DownTo(ctx, 9); err != nil {
				t.Fatal(err)
			}
			// This version's store needs 00010: the table as 00009 had it
			// is read and written with SQL.
			var back []string
			if err := db.Gorm.Raw(`SELECT name FROM decision_logs ORDER BY id DESC`).Scan(&back).Error; err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"log-next", "log-7", "log-5", "log-3"}, back); diff != "" {
				t.Errorf("logs after migrating down (-want +got):\n%s", diff)
			}
			var again int64
			if err := db.Gorm.Raw(`INSERT INTO decision_logs (uid, name, permission, allowed, reason, entries)
				VALUES ('uid-again', 'log-again', 'auth.view_user', FALSE, 'NO_GRANT', '[]') RETURNING id`).Scan(&again).Error; err != nil ||
				again <= next[0].ID {
				t.Fatalf("a log inserted after migrating down: id %d, %v, want an id after %d", again, err, next[0].ID)
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("Up after migrating down: %v", err)
			}
		})
	}
}

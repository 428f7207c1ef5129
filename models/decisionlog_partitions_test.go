package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// utcDay returns the start of t's day in UTC.
func utcDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// partitionDays returns the days that have a partition of decision_logs.
func partitionDays(t *testing.T, s *models.Store) []time.Time {
	t.Helper()
	days, err := s.DecisionLogPartitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return days
}

// TestDecisionLogPartitionsAhead: preparing creates the partitions of
// today and the next days on PostgreSQL, once however often it runs, and
// nothing on SQLite, whose decision_logs is one table.
func TestDecisionLogPartitionsAhead(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		now := time.Date(2032, 2, 28, 23, 59, 0, 0, time.UTC)
		for range 2 {
			if err := s.PrepareDecisionLogs(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		got := slices.DeleteFunc(partitionDays(t, s), func(d time.Time) bool { return d.Year() != 2032 })
		var want []time.Time
		if db.Dialect == models.Postgres {
			for i := range models.PartitionsAhead + 1 {
				want = append(want, utcDay(now).AddDate(0, 0, i))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("partitions after PrepareDecisionLogs(%v) = %v, want %v", now, got, want)
		}
	})
}

// TestDecisionLogForDayWithoutPartition: a log for a day that has no
// partition is stored, not lost, found by id, by uid and in the list, and
// its replay from the spool stores nothing twice; also when another
// instance dropped the day's partition after this store had seen it.
func TestDecisionLogForDayWithoutPartition(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
		if days := partitionDays(t, s); slices.Contains(days, utcDay(logBase)) {
			t.Fatalf("partition of %v exists before any log of that day", utcDay(logBase))
		}
		logs := sampleLogs(alice.ID, bob.ID, p1.ID, p2.ID)
		for i := range logs {
			// As the engine makes them: the log's time in milliseconds first.
			logs[i].UID = fmt.Sprintf("%012x%020d", logs[i].CreatedAt.UnixMilli(), i)
		}
		written := slices.Clone(logs)
		if err := s.WriteDecisionLogs(ctx, written); err != nil {
			t.Fatal(err)
		}
		if db.Dialect == models.Postgres && !slices.Contains(partitionDays(t, s), utcDay(logBase)) {
			t.Errorf("no partition of %v after writing its logs", utcDay(logBase))
		}
		for _, l := range written {
			byID, err := s.DecisionLogByID(ctx, l.ID)
			if err != nil || byID.UID != l.UID || byID.Name != l.Name {
				t.Errorf("DecisionLogByID(%d) = %q %q, %v, want %q %q", l.ID, byID.UID, byID.Name, err, l.UID, l.Name)
			}
			byUID, err := s.DecisionLogByUID(ctx, l.UID)
			if err != nil || byUID.ID != l.ID {
				t.Errorf("DecisionLogByUID(%q) = log %d, %v, want log %d", l.UID, byUID.ID, err, l.ID)
			}
		}
		if _, err := s.DecisionLogByUID(ctx, fmt.Sprintf("%012x%020d", logBase.UnixMilli(), 99)); !errors.Is(err, authz.ErrNotFound) {
			t.Errorf("DecisionLogByUID(unknown) error = %v, want ErrNotFound", err)
		}
		if n, err := s.WriteDecisionLogsOnce(ctx, slices.Clone(logs)); err != nil || n != 0 {
			t.Errorf("WriteDecisionLogsOnce(stored logs) = %d, %v, want 0, nil", n, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM decision_logs"); n != int64(len(logs)) {
			t.Errorf("decision_logs holds %d rows after the replay, want %d", n, len(logs))
		}

		// Another instance's retention drops the day this store has seen.
		other := models.NewStore(db)
		if n, err := other.PurgeDecisionLogs(ctx, utcDay(logBase).AddDate(0, 0, 1)); err != nil || n != int64(len(logs)) {
			t.Fatalf("PurgeDecisionLogs = %d, %v, want %d, nil", n, err, len(logs))
		}
		late := []authz.DecisionLog{logs[0]}
		late[0].UID = fmt.Sprintf("%012x%020d", logBase.UnixMilli(), 7)
		if n, err := s.WriteDecisionLogsOnce(ctx, late); err != nil || n != 1 {
			t.Fatalf("WriteDecisionLogsOnce(a log of the dropped day) = %d, %v, want 1, nil", n, err)
		}
		if got, err := s.DecisionLogByUID(ctx, late[0].UID); err != nil || got.Name != late[0].Name || !got.CreatedAt.Equal(late[0].CreatedAt) {
			t.Errorf("DecisionLogByUID(%q) = %q at %v, %v, want %q at %v", late[0].UID, got.Name, got.CreatedAt, err, late[0].Name, late[0].CreatedAt)
		}
	})
}

// TestPurgeDropsPartitions: on PostgreSQL logs of several days' partitions
// page newest first, and retention drops the partitions of the days it
// removes, deleting no row of decision_logs (a trigger refuses any
// DELETE), and keeps the partitions and logs of the days after.
func TestPurgeDropsPartitions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		if db.Dialect != models.Postgres {
			t.Skip("SQLite's decision_logs has no partitions: TestPurgeDecisionLogs covers its retention")
		}
		ctx := context.Background()
		s := models.NewStore(db)
		dbtest.MustExec(t, db, `CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'decision log row deleted'; END $$`)
		dbtest.MustExec(t, db, `CREATE TRIGGER refuse_delete BEFORE DELETE ON decision_logs
			FOR EACH ROW EXECUTE FUNCTION refuse_delete()`)
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
		logs := sampleLogs(alice.ID, bob.ID, p1.ID, p2.ID)
		for i := range 3 {
			logs[i].CreatedAt = logBase.AddDate(0, 0, i-3) // May 3, 4, 5; logs 3 and 4 on May 6
		}
		if err := s.WriteDecisionLogs(ctx, logs); err != nil {
			t.Fatal(err)
		}
		// Pages of two across the four days' partitions, newest first.
		var paged []int64
		for before := int64(0); ; {
			page, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, before, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range page {
				paged = append(paged, l.ID)
			}
			if len(page) < 2 {
				break
			}
			before = page[len(page)-1].ID
		}
		if want := []int64{logs[4].ID, logs[3].ID, logs[2].ID, logs[1].ID, logs[0].ID}; !slices.Equal(paged, want) {
			t.Errorf("pages of 2 = %v, want %v", paged, want)
		}
		if err := db.Gorm.Exec(`DELETE FROM decision_logs WHERE id = ?`, logs[0].ID).Error; err == nil {
			t.Fatal("DELETE of a log succeeded: the trigger that proves purges delete no row does not work")
		}
		n, err := s.PurgeDecisionLogs(ctx, logBase.AddDate(0, 0, -1))
		if err != nil || n != 2 {
			t.Fatalf("PurgeDecisionLogs(May 5) = %d, %v, want 2, nil", n, err)
		}
		var got []time.Time
		for _, d := range partitionDays(t, s) {
			if d.Year() == 2031 {
				got = append(got, d)
			}
		}
		want := []time.Time{utcDay(logBase).AddDate(0, 0, -1), utcDay(logBase)}
		if !slices.Equal(got, want) {
			t.Errorf("partitions after the purge = %v, want %v", got, want)
		}
		left, err := s.DecisionLogs(ctx, authz.DecisionLogFilter{}, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, l := range left {
			gotIDs = append(gotIDs, l.ID)
		}
		if wantIDs := []int64{logs[4].ID, logs[3].ID, logs[2].ID}; !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("logs left = %v, want %v", gotIDs, wantIDs)
		}
	})
}

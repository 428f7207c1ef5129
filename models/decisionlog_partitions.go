package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// This file keeps PostgreSQL's decision_logs partitions (migration
// 00010): one a day (UTC), created ahead and on demand, dropped whole by
// retention. SQLite's decision_logs is one table: there, creating is a
// no-op and retention deletes rows.

// PartitionsAhead is how many days after today get a partition ahead of
// their logs, at start and at every retention run.
const PartitionsAhead = 3

// partitionPrefix starts the name of every partition of decision_logs; the
// day follows as YYYYMMDD.
const partitionPrefix = "decision_logs_p"

// partitionDays remembers the days whose partition this store has created
// or seen, so that a batch for them costs no statement beyond its own.
type partitionDays struct {
	mu   sync.Mutex
	days map[time.Time]bool
}

// missing returns the days of times not known to have a partition, each
// once.
func (p *partitionDays) missing(times []time.Time) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Time
	seen := map[time.Time]bool{}
	for _, t := range times {
		d := day(t)
		if !p.days[d] && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func (p *partitionDays) add(days ...time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.days == nil {
		p.days = map[time.Time]bool{}
	}
	for _, d := range days {
		p.days[d] = true
	}
}

// forget clears what the store knows: another instance may have dropped a
// partition it had seen.
func (p *partitionDays) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.days = nil
}

// day returns the start of t's day in UTC.
func day(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// addPartitionsSQL creates the partitions of the days $1 that do not have
// one yet (decision_logs_add_partition, migration 00010).
const addPartitionsSQL = `SELECT decision_logs_add_partition(d::date) FROM unnest($1::text[]) AS d`

// addPartitions creates the partitions of days that have none, in one
// short transaction of its own: creating a partition locks decision_logs
// against every reader for the moment it takes, which must not wait for a
// batch's transaction.
func (s *Store) addPartitions(ctx context.Context, days []time.Time) error {
	if s.dialect != Postgres || len(days) == 0 {
		return nil
	}
	names := make([]string, len(days))
	for i, d := range days {
		names[i] = d.Format(time.DateOnly)
	}
	count(ctx, addPartitionsSQL)
	rows, err := s.sql.QueryContext(ctx, addPartitionsSQL, names)
	if err == nil {
		err = rows.Close()
	}
	if err != nil {
		return fmt.Errorf("create decision log partitions %s: %w", strings.Join(names, ", "), err)
	}
	s.partitions.add(days...)
	return nil
}

// ensurePartitions creates the partitions the times need that the store
// does not know to exist.
func (s *Store) ensurePartitions(ctx context.Context, times []time.Time) error {
	if s.dialect != Postgres {
		return nil
	}
	return s.addPartitions(ctx, s.partitions.missing(times))
}

// isMissingPartition says whether err is PostgreSQL refusing a row for
// which decision_logs has no partition (a check violation: the table has
// no CHECK constraint of its own).
func isMissingPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514"
}

// PrepareDecisionLogs creates the partitions of decision_logs for the
// day of now and the PartitionsAhead days after it, those that do not
// exist yet: the writer then finds them ready at midnight. It does nothing
// on SQLite.
func (s *Store) PrepareDecisionLogs(ctx context.Context, now time.Time) error {
	if s.dialect != Postgres {
		return nil
	}
	days := make([]time.Time, 0, PartitionsAhead+1)
	for i := range PartitionsAhead + 1 {
		days = append(days, day(now).AddDate(0, 0, i))
	}
	if err := s.addPartitions(ctx, days); err != nil {
		return dbError("prepare decision log partitions", err)
	}
	return nil
}

// listPartitionsSQL names the partitions of decision_logs.
const listPartitionsSQL = `
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'decision_logs'::regclass ORDER BY c.relname`

// DecisionLogPartitions returns the days that have a partition of
// decision_logs, oldest first (none on SQLite).
func (s *Store) DecisionLogPartitions(ctx context.Context) ([]time.Time, error) {
	if s.dialect != Postgres {
		return nil, nil
	}
	var names []string
	if err := s.db.WithContext(ctx).Raw(listPartitionsSQL).Scan(&names).Error; err != nil {
		return nil, dbError("list decision log partitions", err)
	}
	days := make([]time.Time, 0, len(names))
	for _, n := range names {
		d, err := time.Parse("20060102", strings.TrimPrefix(n, partitionPrefix))
		if err != nil || !strings.HasPrefix(n, partitionPrefix) {
			continue // not one this store made: left alone
		}
		days = append(days, d)
	}
	return days, nil
}

// dropPartitions removes, each in one transaction, the partitions of
// the days that end at or before cutoff, with the tags of their logs: the
// logs go with their partition (detached, then dropped), no row deleted;
// tags, in decision_log_tags, are deleted by their logs' ids. It returns
// how many logs went.
func (s *Store) dropPartitions(ctx context.Context, cutoff time.Time) (int64, error) {
	days, err := s.DecisionLogPartitions(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, d := range days {
		if d.AddDate(0, 0, 1).After(cutoff) {
			break
		}
		part := partitionPrefix + d.Format("20060102")
		var n int64
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Raw(`SELECT COUNT(*) FROM ` + part).Scan(&n).Error; err != nil {
				return err
			}
			if err := tx.Exec(`DELETE FROM decision_log_tags WHERE decision_log_id IN (SELECT id FROM ` + part + `)`).Error; err != nil {
				return err
			}
			if err := tx.Exec(`ALTER TABLE decision_logs DETACH PARTITION ` + part).Error; err != nil {
				return err
			}
			return tx.Exec(`DROP TABLE ` + part).Error
		})
		if err != nil {
			return total, dbError(fmt.Sprintf("drop decision log partition %s", part), err)
		}
		total += n
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge decision logs: %w", err)
		}
	}
	// Forget the dropped days: a late log for one of them must create its
	// partition again rather than be refused.
	s.partitions.forget()
	return total, nil
}

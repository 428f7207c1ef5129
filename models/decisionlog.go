package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grantql/grantql/authz"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// This file persists decision logs for the LogWriter and reads them for
// the decisionLogs query.

var _ authz.DecisionLogStore = (*Store)(nil)

// Insert sizes (SQLite). A multi-row INSERT binds one placeholder per
// column per row: decision_logs takes 16, so 1,000 rows bind 16,000, well
// under SQLite's limit of 32,766; tags (2 columns) fit 5,000 rows as
// easily.
const (
	logInsertRows = 1000
	tagInsertRows = 5000
)

// purgeChunk is how many logs one DELETE of a purge removes. A purge runs
// as a series of short statements, not one long one, so that SQLite's
// single writer lock is never held longer than its busy timeout would
// let the log writer and the API wait. (A variable so that a test can
// make a small purge take several chunks.)
var purgeChunk = 5000

// Column widths of decision_logs and decision_log_tags. The writer clips
// text to them rather than failing: a batch refused for one long object id
// would lose the whole batch.
const (
	maxLogName       = 320 // auto-<perm>-<object id>: 5 + 201 + 1 + 100 = 307 fits
	maxLogPermission = 201
	maxLogUID        = 32
	maxLogReason     = 32
	maxLogObjectType = 100
	maxLogObjectID   = 100
	maxLogSource     = 255
	maxLogRequestID  = 64
	maxLogBackend    = 100
	maxLogUsername   = 150
	maxLogTag        = 100
)

// clean makes s storable in a text column: valid UTF-8 without NUL bytes,
// as PostgreSQL refuses both.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// clip makes s storable in a column of max characters: clean, and cut to
// max characters.
func clip(s string, max int) string {
	s = clean(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max])
}

// cleanTag makes a tag storable: clipped to decision_log_tags' column, and
// a comma inside it becomes "_", as when entries kept their tags
// comma-separated (migration 00008 can still take the lines back there);
// an empty tag is dropped.
func cleanTag(tag string) string {
	return strings.TrimSpace(clip(strings.ReplaceAll(tag, ",", "_"), maxLogTag))
}

// optional maps "" to NULL.
func optional(s string, max int) *string {
	if s == "" {
		return nil
	}
	s = clip(s, max)
	return &s
}

// WriteDecisionLogs stores a batch of logs in one transaction, and sets
// their ids in logs. A log without a createdAt gets one before the write
// (logTime), so that a retry or the spool keeps it. A user or project that no longer exists (deleted
// between the check and the write) is stored as NULL, as ON DELETE SET
// NULL would have done had the log been written first; the username at
// the time of the write is kept beside the user id. PostgreSQL takes the
// batch with COPY (copyDecisionLogs); SQLite with multi-row INSERTs.
func (s *Store) WriteDecisionLogs(ctx context.Context, logs []authz.DecisionLog) error {
	if len(logs) == 0 {
		return nil
	}
	for i := range logs {
		logs[i].CreatedAt = logTime(logs[i])
	}
	var (
		rows []DecisionLog
		err  error
	)
	if s.dialect == Postgres {
		rows, err = s.copyPartitioned(ctx, logs)
	} else {
		rows, err = s.insertDecisionLogs(ctx, logs)
	}
	if err != nil {
		return dbError(fmt.Sprintf("write %d decision logs", len(logs)), err)
	}
	for i := range logs {
		logs[i].ID, logs[i].CreatedAt = rows[i].ID, rows[i].CreatedAt
	}
	return nil
}

var _ authz.DecisionLogReplayStore = (*Store)(nil)

// replayConflictRetries is how many times WriteDecisionLogsOnce looks
// again for stored uids after its write collided with one: a collision
// means that another writer stored some of the logs between the look-up
// and the write (another instance replaying the same spool, or the
// stopping writer's last batch), and looking again skips them.
const replayConflictRetries = 3

// WriteDecisionLogsOnce stores, in one transaction, those of logs whose
// uid is not stored yet (nor repeated earlier in logs), and returns how
// many it stored: it is the spool's replay, which may meet logs that were
// stored after all. The unique index on decision_logs.uid makes it safe
// against a concurrent writer of the same logs; it answers the look-up.
func (s *Store) WriteDecisionLogsOnce(ctx context.Context, logs []authz.DecisionLog) (int, error) {
	for try := 0; ; try++ {
		fresh, err := s.unstoredLogs(ctx, logs)
		if err != nil {
			return 0, err
		}
		err = s.WriteDecisionLogs(ctx, fresh)
		if err == nil {
			return len(fresh), nil
		}
		if !errors.Is(err, authz.ErrConflict) || try == replayConflictRetries {
			return 0, err
		}
	}
}

// unstoredLogs returns the logs whose uid is not stored, each uid once.
func (s *Store) unstoredLogs(ctx context.Context, logs []authz.DecisionLog) ([]authz.DecisionLog, error) {
	uids := make([]string, 0, len(logs))
	for _, l := range logs {
		uids = append(uids, clip(l.UID, maxLogUID))
	}
	q := s.db.WithContext(ctx).Model(&DecisionLog{}).Where("uid IN ? AND uid <> ''", uids)
	if s.dialect == Postgres && len(logs) > 0 {
		// A log stored already has the createdAt it has here (logTime),
		// so the look-up reads only the partitions of the batch's days,
		// unless a log's time is not known before it is written.
		var first, last time.Time
		for i, l := range logs {
			t := logTime(l)
			if l.CreatedAt.IsZero() && l.UID != "" {
				if _, ok := uidTime(l.UID); !ok {
					first = time.Time{}
					break
				}
			}
			if i == 0 {
				first, last = t, t
			}
			first, last = minTime(first, t), maxTime(last, t)
		}
		if !first.IsZero() {
			q = q.Where("created_at BETWEEN ? AND ?", first, last)
		}
	}
	var stored []string
	if err := q.Pluck("uid", &stored).Error; err != nil {
		return nil, dbError(fmt.Sprintf("look up %d decision log uids", len(uids)), err)
	}
	seen := make(map[string]bool, len(logs))
	for _, uid := range stored {
		seen[uid] = true
	}
	fresh := make([]authz.DecisionLog, 0, len(logs))
	for i, l := range logs {
		if uid := uids[i]; uid == "" || !seen[uid] {
			if uid != "" {
				seen[uid] = true
			}
			fresh = append(fresh, l)
		}
	}
	return fresh, nil
}

// insertDecisionLogs writes the batch with gorm: the logs in multi-row
// INSERTs that return their ids, then their tags the same way.
func (s *Store) insertDecisionLogs(ctx context.Context, logs []authz.DecisionLog) ([]DecisionLog, error) {
	var rows []DecisionLog
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		users, projects := logReferenceIDs(logs)
		usernames := make(map[int64]string, len(users))
		if len(users) > 0 {
			var found []User
			if err := tx.Select("id", "username").Where("id IN ?", users).Find(&found).Error; err != nil {
				return fmt.Errorf("look up the logs' users: %w", err)
			}
			for _, u := range found {
				usernames[u.ID] = u.Username
			}
		}
		existing := make(map[int64]bool, len(projects))
		if len(projects) > 0 {
			var ids []int64
			if err := tx.Model(&Project{}).Where("id IN ?", projects).Pluck("id", &ids).Error; err != nil {
				return fmt.Errorf("look up the logs' projects: %w", err)
			}
			for _, id := range ids {
				existing[id] = true
			}
		}
		var tagged logTags
		rows, tagged = logRows(logs, usernames, existing)
		if err := tx.CreateInBatches(&rows, logInsertRows).Error; err != nil {
			return fmt.Errorf("insert %d logs: %w", len(rows), err)
		}
		if tags := tagged.rows(rows); len(tags) > 0 {
			if err := tx.CreateInBatches(&tags, tagInsertRows).Error; err != nil {
				return fmt.Errorf("insert %d log tags: %w", len(tags), err)
			}
		}
		return nil
	})
	return rows, err
}

// logReferencesSQL is the one statement before a batch's COPY: the usernames
// of the batch's users ($1) and which of its projects ($2) exist, each by
// primary key, and $3 fresh log ids from the identity sequence, so that
// the tags can name their logs without a round trip for the logs' ids.
// It locks the users and projects it finds (FOR KEY SHARE) until the batch
// commits: decision_logs has no foreign keys (migration 00010), and a
// user or project deleted meanwhile waits, then sets the batch's logs'
// column to NULL (deleteRecorded), as the foreign key's ON DELETE SET NULL
// did, once a batch instead of once a row.
const logReferencesSQL = `
WITH u AS (SELECT id, username FROM users WHERE id = ANY($1) FOR KEY SHARE),
     p AS (SELECT id FROM projects WHERE id = ANY($2) FOR KEY SHARE)
SELECT 0 AS kind, u.id, u.username FROM u
UNION ALL
SELECT 1, p.id, NULL FROM p
UNION ALL
SELECT 2, nextval(pg_get_serial_sequence('decision_logs', 'id')), NULL FROM generate_series(1, $3)`

// copyDecisionLogs writes the batch into PostgreSQL in one transaction:
// logReferencesSQL, then a COPY into decision_logs and, when a log has a
// tag other than auto, one into decision_log_tags. COPY spends neither parsing
// nor planning on the batch's thousands of values, nor a prepared
// statement per batch size, which multi-row INSERTs would.
func (s *Store) copyDecisionLogs(ctx context.Context, logs []authz.DecisionLog) ([]DecisionLog, error) {
	var rows []DecisionLog
	err := pgxTx(ctx, s.sql, func(tx pgx.Tx) error {
		users, projects := logReferenceIDs(logs)
		count(ctx, logReferencesSQL)
		res, err := tx.Query(ctx, logReferencesSQL, users, projects, len(logs))
		if err != nil {
			return fmt.Errorf("look up the logs' users and projects: %w", err)
		}
		usernames, existing := make(map[int64]string, len(users)), make(map[int64]bool, len(projects))
		ids := make([]int64, 0, len(logs))
		for res.Next() {
			var (
				kind     int
				id       int64
				username *string
			)
			if err := res.Scan(&kind, &id, &username); err != nil {
				res.Close()
				return fmt.Errorf("look up the logs' users and projects: %w", err)
			}
			switch kind {
			case 0:
				usernames[id] = *username
			case 1:
				existing[id] = true
			case 2:
				ids = append(ids, id)
			}
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("look up the logs' users and projects: %w", err)
		}
		if len(ids) != len(logs) {
			return fmt.Errorf("reserved %d log ids for %d logs", len(ids), len(logs))
		}
		var tagged logTags
		rows, tagged = logRows(logs, usernames, existing)
		copied := make([][]any, len(rows))
		for i := range rows {
			r := &rows[i]
			r.ID = ids[i]
			copied[i] = []any{r.ID, r.UID, r.Name, r.Permission, r.Allowed, r.Reason, r.UserID, r.ProjectID,
				r.ObjectType, r.ObjectID, r.Source, r.RequestID, r.Backend, r.Username, r.CreatedAt,
				r.Entries, r.AutoTagged}
		}
		tags := tagged.rows(rows)
		tagRows := make([][]any, len(tags))
		for i, t := range tags {
			tagRows[i] = []any{t.DecisionLogID, t.Tag}
		}
		return copyTables(ctx, tx, []*bulkTable{
			{name: "decision_logs", rows: copied, columns: []string{"id", "uid", "name", "permission", "allowed", "reason",
				"user_id", "project_id", "object_type", "object_id", "source", "request_id", "backend", "username", "created_at",
				"entries", "auto_tagged"}},
			{name: "decision_log_tags", rows: tagRows, columns: []string{"decision_log_id", "tag"}},
		})
	})
	return rows, err
}

// copyPartitioned writes the batch with copyDecisionLogs after creating
// the partitions of its days that the store does not know to exist. When
// PostgreSQL still finds a day without one (another instance's retention
// dropped it since), it creates the partitions again and writes once more:
// decision_logs has no DEFAULT partition, and a log is never dropped for
// the want of one.
func (s *Store) copyPartitioned(ctx context.Context, logs []authz.DecisionLog) ([]DecisionLog, error) {
	times := make([]time.Time, len(logs))
	for i, l := range logs {
		times[i] = l.CreatedAt
	}
	if err := s.ensurePartitions(ctx, times); err != nil {
		return nil, err
	}
	rows, err := s.copyDecisionLogs(ctx, logs)
	if err == nil || !isMissingPartition(err) {
		return rows, err
	}
	s.partitions.forget()
	if err := s.ensurePartitions(ctx, times); err != nil {
		return nil, err
	}
	return s.copyDecisionLogs(ctx, logs)
}

// logReferenceIDs returns the distinct users and projects the logs name.
func logReferenceIDs(logs []authz.DecisionLog) (users, projects []int64) {
	userSet, projectSet := map[int64]bool{}, map[int64]bool{}
	for _, l := range logs {
		if l.User > 0 {
			userSet[l.User] = true
		}
		if l.Project > 0 {
			projectSet[l.Project] = true
		}
	}
	return keys(userSet), keys(projectSet)
}

// logRows turns logs into rows, given the usernames of the users that
// exist and the set of projects that do, and returns the logs' tags other
// than auto.
func logRows(logs []authz.DecisionLog, usernames map[int64]string, projects map[int64]bool) ([]DecisionLog, logTags) {
	rows := make([]DecisionLog, len(logs))
	tagged := logTags{}
	var lines []storedEntry
	for i, l := range logs {
		lines = lines[:0]
		auto := false
		for _, e := range l.Entries {
			tags := make([]string, 0, len(e.Tags))
			for _, t := range e.Tags {
				if t = cleanTag(t); t == "" {
					continue
				}
				tags = append(tags, t)
				if t == authz.TagAuto {
					auto = true
				} else if !slices.Contains(tagged[i], t) {
					tagged[i] = append(tagged[i], t)
				}
			}
			lines = append(lines, storedEntry{Text: clean(e.Text), Tags: tags})
		}
		created := l.CreatedAt.UTC().Truncate(time.Microsecond)
		if l.CreatedAt.IsZero() {
			created = now()
		}
		rows[i] = DecisionLog{
			UID:        clip(l.UID, maxLogUID),
			Name:       clip(l.Name, maxLogName),
			Permission: clip(l.Perm, maxLogPermission),
			Allowed:    l.Allowed,
			Reason:     clip(string(l.Reason), maxLogReason),
			ObjectType: optional(l.ObjectType, maxLogObjectType),
			ObjectID:   optional(l.ObjectID, maxLogObjectID),
			Source:     clip(l.Source, maxLogSource),
			RequestID:  clip(l.RequestID, maxLogRequestID),
			Backend:    clip(l.Backend, maxLogBackend),
			CreatedAt:  created,
			Entries:    encodeEntries(lines),
			AutoTagged: auto,
		}
		if name, ok := usernames[l.User]; ok {
			rows[i].UserID, rows[i].Username = ref(l.User), clip(name, maxLogUsername)
		}
		if projects[l.Project] {
			rows[i].ProjectID = ref(l.Project)
		}
	}
	return rows, tagged
}

// storedEntry is a log line as decision_logs.entries stores it.
type storedEntry struct {
	Text string   `json:"text"`
	Tags []string `json:"tags"`
}

// encodeEntries renders a log's lines for its entries column.
func encodeEntries(lines []storedEntry) string {
	if len(lines) == 0 {
		return "[]"
	}
	b, err := json.Marshal(lines)
	if err != nil {
		// Strings and slices of strings always encode.
		panic(fmt.Sprintf("encode decision log entries: %v", err))
	}
	return string(b)
}

// decodeEntries reads an entries column back.
func decodeEntries(column string) ([]authz.LogEntry, error) {
	var lines []storedEntry
	if err := json.Unmarshal([]byte(column), &lines); err != nil {
		return nil, err
	}
	out := make([]authz.LogEntry, len(lines))
	for i, l := range lines {
		if l.Tags == nil {
			l.Tags = []string{}
		}
		out[i] = authz.LogEntry{Text: l.Text, Tags: l.Tags}
	}
	return out, nil
}

// logTags are the distinct tags other than auto of a batch's logs, by
// the logs' index in the batch.
type logTags map[int][]string

// rows returns the tags as rows of decision_log_tags, given the batch's
// stored rows (with their ids).
func (lt logTags) rows(logs []DecisionLog) []DecisionLogTag {
	var out []DecisionLogTag
	for i := range logs {
		for _, t := range lt[i] {
			out = append(out, DecisionLogTag{DecisionLogID: logs[i].ID, Tag: t})
		}
	}
	return out
}

func keys(set map[int64]bool) []int64 {
	out := make([]int64, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out
}

// DecisionLogs returns up to limit logs matching f, with their entries,
// in one statement, newest first, strictly older than the log with id before (0: from the
// newest). A user or project of 0 selects the logs without one (anonymous
// checks, or users deleted since); an object type or id of "" selects
// logs without an object. Times select since ≤ created_at < until.
//
// Each selective filter has an index that ends in id (migration 00004),
// so that one equality reads its index backwards from the cursor and
// stops after limit rows; with several filters the planner picks the most
// selective and checks the others on the rows it reads; with none, or
// with only unselective ones (allowed, whose index PostgreSQL no longer
// has since migration 00010, an object type), it reads the primary key
// backwards until the page is full. On PostgreSQL, where decision_logs is
// partitioned by day, each partition's index is read backwards and the
// results merged; since and until leave out the partitions of other days,
// and a BRIN index on created_at serves them within a day. A tag is looked up in
// decision_log_tags, whose primary key (tag, decision_log_id) gives the
// tagged logs newest first; the tag auto, which nearly every log has, is
// the auto_tagged flag, read on the rows the other filters select.
func (s *Store) DecisionLogs(ctx context.Context, f authz.DecisionLogFilter, before int64, limit int) ([]authz.DecisionLog, error) {
	if limit <= 0 {
		return []authz.DecisionLog{}, nil
	}
	var q filter
	from, key := "decision_logs d", "d.id"
	switch {
	case f.Tag == nil:
	case *f.Tag == authz.TagAuto:
		q.eq("d.auto_tagged", true)
	default:
		// decision_log_tags' primary key (tag, decision_log_id).
		from, key = "decision_log_tags t JOIN decision_logs d ON d.id = t.decision_log_id", "t.decision_log_id"
		q.eq("t.tag", *f.Tag)
	}
	if before > 0 {
		q.add(key+" < ?", before)
	}
	q.id("d.user_id", f.User)       // decision_logs_user_id_idx
	q.id("d.project_id", f.Project) // decision_logs_project_id_idx
	if f.Perm != nil {
		q.eq("d.permission", *f.Perm) // decision_logs_permission_id_idx
	}
	// decision_logs_object_id_idx (object_id, object_type, id)
	optionalEq(&q, "d.object_id", f.ObjectID)
	optionalEq(&q, "d.object_type", f.ObjectType)
	if f.Allowed != nil {
		q.eq("d.allowed", *f.Allowed) // decision_logs_allowed_id_idx on SQLite
	}
	if f.Reason != nil {
		q.eq("d.reason", string(*f.Reason)) // decision_logs_reason_id_idx
	}
	if f.Name != nil {
		q.eq("d.name", *f.Name) // decision_logs_name_id_idx
	}
	q.times("d.created_at", f.Since, f.Until) // partitions, decision_logs_created_brin; SQLite: decision_logs_created_idx
	var rows []DecisionLog
	sql := "SELECT d.* FROM " + from + " WHERE " + q.sql() + " ORDER BY " + key + " DESC LIMIT ?"
	if err := s.db.WithContext(ctx).Raw(sql, append(q.args, limit)...).Scan(&rows).Error; err != nil {
		return nil, dbError("list decision logs", err)
	}
	return logsOf(rows)
}

// optionalEq adds "column = v", where v "" selects NULL.
func optionalEq(q *filter, column string, v *string) {
	switch {
	case v == nil:
	case *v == "":
		q.add(column + " IS NULL")
	default:
		q.eq(column, *v)
	}
}

// DecisionLogByID returns one log: a *authz.NotFoundError
// when there is none.
func (s *Store) DecisionLogByID(ctx context.Context, id int64) (authz.DecisionLog, error) {
	var row DecisionLog
	err := s.db.WithContext(ctx).Take(&row, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return authz.DecisionLog{}, &authz.NotFoundError{Kind: "decision log", ID: id}
	}
	if err != nil {
		return authz.DecisionLog{}, dbError(fmt.Sprintf("load decision log %d", id), err)
	}
	logs, err := logsOf([]DecisionLog{row})
	if err != nil {
		return authz.DecisionLog{}, err
	}
	return logs[0], nil
}

// DecisionLogByUID implements authz.DecisionLogStore, through the unique
// partial index on uid. On PostgreSQL a uid made by the engine starts with
// its log's createdAt (newLogUID), so the look-up first reads the
// partitions of the day before, of and after that time, and all of them
// only when the log is not there.
func (s *Store) DecisionLogByUID(ctx context.Context, uid string) (authz.DecisionLog, error) {
	var row DecisionLog
	err := gorm.ErrRecordNotFound
	if t, ok := uidTime(uid); ok && s.dialect == Postgres {
		err = s.db.WithContext(ctx).Where("uid = ? AND uid <> '' AND created_at >= ? AND created_at < ?",
			uid, t.Add(-24*time.Hour), t.Add(24*time.Hour)).Take(&row).Error
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = s.db.WithContext(ctx).Where("uid = ? AND uid <> ''", uid).Take(&row).Error
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return authz.DecisionLog{}, fmt.Errorf("decision log %q not found: %w", uid, authz.ErrNotFound)
	}
	if err != nil {
		return authz.DecisionLog{}, dbError(fmt.Sprintf("load decision log %q", uid), err)
	}
	logs, err := logsOf([]DecisionLog{row})
	if err != nil {
		return authz.DecisionLog{}, err
	}
	return logs[0], nil
}

// logTime returns the createdAt a log is stored with: its own, to the
// microsecond; for a log without one, the time its uid starts with (a uid
// of newLogUID), so that the log and its replay from the spool are stored
// alike; else the time of the write.
func logTime(l authz.DecisionLog) time.Time {
	if !l.CreatedAt.IsZero() {
		return l.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	if t, ok := uidTime(l.UID); ok {
		return t
	}
	return now()
}

// uidTime returns the time a uid of newLogUID starts with: its first 12
// hex digits, Unix milliseconds.
func uidTime(uid string) (time.Time, bool) {
	if len(uid) != 32 {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range uid[:12] {
		v := strings.IndexRune("0123456789abcdef", c)
		if v < 0 {
			return time.Time{}, false
		}
		ms = ms<<4 | int64(v)
	}
	return time.UnixMilli(ms).UTC(), true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// logsOf converts stored rows to logs.
func logsOf(rows []DecisionLog) ([]authz.DecisionLog, error) {
	out := make([]authz.DecisionLog, len(rows))
	for i, r := range rows {
		entries, err := decodeEntries(r.Entries)
		if err != nil {
			return nil, fmt.Errorf("decision log %d: entries: %w", r.ID, err)
		}
		out[i] = authz.DecisionLog{
			ID: r.ID, UID: r.UID, Name: r.Name, Perm: r.Permission, Allowed: r.Allowed, Reason: authz.Reason(r.Reason),
			User: deref(r.UserID), Project: deref(r.ProjectID), Source: r.Source, RequestID: r.RequestID,
			Backend: r.Backend, CreatedAt: r.CreatedAt.UTC(), Entries: entries,
		}
		if r.ObjectType != nil {
			out[i].ObjectType = *r.ObjectType
		}
		if r.ObjectID != nil {
			out[i].ObjectID = *r.ObjectID
		}
	}
	return out, nil
}

// PurgeDecisionLogs removes the logs of the days (UTC) that end at or
// before t, with their tags, and returns how many logs it removed: a log
// is kept for whole days, never removed before t, and at most until the
// end of t's day. On PostgreSQL it drops the days' partitions of
// decision_logs (dropPartitions), deleting no log row. On SQLite it deletes
// in chunks of purgeChunk logs found through decision_logs_created_idx,
// each chunk in one transaction. A cancelled ctx stops it between
// partitions or chunks, keeping what was removed.
func (s *Store) PurgeDecisionLogs(ctx context.Context, t time.Time) (int64, error) {
	cutoff := day(t)
	if s.dialect == Postgres {
		return s.dropPartitions(ctx, cutoff)
	}
	var total int64
	for {
		var n int64
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var ids []int64
			err := tx.Raw(`SELECT id FROM decision_logs WHERE created_at < ? ORDER BY created_at, id LIMIT ?`,
				cutoff, purgeChunk).Scan(&ids).Error
			if err != nil || len(ids) == 0 {
				return err
			}
			if err := tx.Where("decision_log_id IN ?", ids).Delete(&DecisionLogTag{}).Error; err != nil {
				return err
			}
			res := tx.Where("id IN ?", ids).Delete(&DecisionLog{})
			n = res.RowsAffected
			return res.Error
		})
		if err != nil {
			return total, dbError(fmt.Sprintf("purge decision logs before %s", cutoff.Format(time.RFC3339)), err)
		}
		total += n
		if n < int64(purgeChunk) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge decision logs: %w", err)
		}
	}
}

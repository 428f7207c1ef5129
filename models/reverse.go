package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grantql/grantql/authz"
)

// visibleProjectsCTE names, for user @user and permission @perm, the
// projects in which the user holds the permission. "everywhere" is true for
// an active superuser or an active holder of a global grant (directly, via
// user_permissions' primary key, or through a group, via user_groups' and
// group_permissions' primary keys); otherwise only projects with a project
// grant count, found from the user's side through the (holder, grant)
// indexes of the link tables.
const visibleProjectsCTE = `
WITH u AS (
  SELECT users.id, users.is_active,
         users.is_active AND (users.is_superuser
           OR EXISTS (SELECT 1 FROM user_permissions up WHERE up.user_id = users.id AND up.permission_id = @perm)
           OR EXISTS (SELECT 1 FROM user_groups ug JOIN group_permissions gp ON gp.group_id = ug.group_id
                       WHERE ug.user_id = users.id AND gp.permission_id = @perm)) AS everywhere
    FROM users WHERE users.id = @user
),
granted AS (
  SELECT pp.project_id FROM project_permission_users ppu
    JOIN project_permissions pp ON pp.id = ppu.project_permission_id
   WHERE ppu.user_id = @user AND pp.permission_id = @perm
  UNION
  SELECT pp.project_id FROM user_groups ug
    JOIN project_permission_groups ppg ON ppg.group_id = ug.group_id
    JOIN project_permissions pp ON pp.id = ppg.project_permission_id
   WHERE ug.user_id = @user AND pp.permission_id = @perm
),
visible AS (
  SELECT p.id, p.name, p.created_at FROM projects p
   WHERE EXISTS (SELECT 1 FROM u WHERE u.everywhere)
  UNION ALL
  SELECT p.id, p.name, p.created_at FROM projects p JOIN granted g ON g.project_id = p.id
   WHERE EXISTS (SELECT 1 FROM u WHERE u.is_active AND NOT u.everywhere)
)`

// projectsWithPermSQL returns a marker row (kind 0) when the user exists,
// then a page of visible projects (kind 1).
const projectsWithPermSQL = visibleProjectsCTE + `
SELECT 0 AS kind, u.id AS id, '' AS name, CAST(NULL AS TIMESTAMP) AS created_at FROM u
UNION ALL
SELECT * FROM (SELECT 1, v.id, v.name, v.created_at FROM visible v WHERE v.id > @after ORDER BY v.id LIMIT @limit) page`

// countProjectsWithPermSQL counts the visible projects, and says whether
// the user exists (found 0: it does not).
const countProjectsWithPermSQL = visibleProjectsCTE + `
SELECT (SELECT COUNT(*) FROM u) AS found, (SELECT COUNT(*) FROM visible) AS n`

// ProjectsWithPerm implements authz.ReverseStore in one statement.
func (s *Store) ProjectsWithPerm(ctx context.Context, user, perm, after int64, limit int) ([]authz.Project, bool, error) {
	args := map[string]any{"user": user, "perm": perm, "after": after, "limit": limit}
	rows, err := s.db.WithContext(ctx).Raw(projectsWithPermSQL, args).Rows()
	if err != nil {
		return nil, false, dbError(fmt.Sprintf("projects where user %d has permission %d", user, perm), err)
	}
	defer rows.Close()
	var (
		found    bool
		projects = []authz.Project{}
	)
	for rows.Next() {
		var (
			kind      int
			p         authz.Project
			createdAt nullTime
		)
		if err := rows.Scan(&kind, &p.ID, &p.Name, &createdAt); err != nil {
			return nil, false, dbError("scan project", err)
		}
		if kind == 0 {
			found = true
			continue
		}
		p.CreatedAt = createdAt.Time
		projects = append(projects, p)
	}
	if err := rows.Err(); err != nil {
		return nil, false, dbError("scan projects", err)
	}
	return projects, found, nil
}

// countRow is the answer of a count statement: whether the user or project
// it names exists, and the count.
type countRow struct {
	Found int
	N     int
}

// CountProjectsWithPerm implements authz.ReverseStore in one statement.
func (s *Store) CountProjectsWithPerm(ctx context.Context, user, perm int64) (int, error) {
	var c countRow
	err := s.db.WithContext(ctx).Raw(countProjectsWithPermSQL,
		map[string]any{"user": user, "perm": perm}).Scan(&c).Error
	if err != nil {
		return 0, dbError(fmt.Sprintf("count projects where user %d has permission %d", user, perm), err)
	}
	if c.Found == 0 {
		return 0, &authz.NotFoundError{Kind: "user", ID: user}
	}
	return c.N, nil
}

// holdersCTE names, for permission @perm and project @project, every
// (active user, source) pair: superusers, global user and group grants
// (through the permission-first indexes of user_permissions and
// group_permissions, then user_groups' (group_id, user_id) index), and
// project user and group grants (through project_permissions' unique
// (project_id, permission_id) and the link tables' primary keys).
const holdersCTE = `
WITH src AS (
  SELECT id AS user_id, 0 AS source FROM users WHERE is_superuser
  UNION ALL
  SELECT up.user_id, 1 FROM user_permissions up WHERE up.permission_id = @perm
  UNION ALL
  SELECT ug.user_id, 2 FROM group_permissions gp JOIN user_groups ug ON ug.group_id = gp.group_id
   WHERE gp.permission_id = @perm
  UNION ALL
  SELECT ppu.user_id, 3 FROM project_permissions pp
    JOIN project_permission_users ppu ON ppu.project_permission_id = pp.id
   WHERE pp.project_id = @project AND pp.permission_id = @perm
  UNION ALL
  SELECT ug.user_id, 4 FROM project_permissions pp
    JOIN project_permission_groups ppg ON ppg.project_permission_id = pp.id
    JOIN user_groups ug ON ug.group_id = ppg.group_id
   WHERE pp.project_id = @project AND pp.permission_id = @perm
),
holders AS (
  SELECT DISTINCT src.user_id FROM src JOIN users u ON u.id = src.user_id AND u.is_active
   WHERE EXISTS (SELECT 1 FROM projects WHERE id = @project)
)`

// usersWithProjectPermSQL returns a marker row (source -1) when the project
// exists, then one row per (user, source) for a page of users.
const usersWithProjectPermSQL = holdersCTE + `,
page AS (SELECT user_id FROM holders WHERE user_id > @after ORDER BY user_id LIMIT @limit)
SELECT -1 AS source, CAST(0 AS BIGINT) AS id, '' AS username, FALSE AS is_active, FALSE AS is_superuser,
       CAST(NULL AS TIMESTAMP) AS created_at
  FROM projects WHERE id = @project
UNION ALL
SELECT src.source, u.id, u.username, u.is_active, u.is_superuser, u.created_at
  FROM page JOIN users u ON u.id = page.user_id JOIN src ON src.user_id = page.user_id`

// countUsersWithProjectPermSQL counts the holders, and says whether the
// project exists (found 0: it does not).
const countUsersWithProjectPermSQL = holdersCTE + `
SELECT (SELECT COUNT(*) FROM projects WHERE id = @project) AS found, (SELECT COUNT(*) FROM holders) AS n`

// sourceReasons maps the source column of holdersCTE to reasons.
var sourceReasons = map[int]authz.Reason{
	0: authz.ReasonSuperuser,
	1: authz.ReasonGlobalUser,
	2: authz.ReasonGlobalGroup,
	3: authz.ReasonProjectUser,
	4: authz.ReasonProjectGroup,
}

// UsersWithProjectPerm implements authz.ReverseStore in one statement.
func (s *Store) UsersWithProjectPerm(ctx context.Context, perm, project, after int64, limit int) ([]authz.UserSources, bool, error) {
	args := map[string]any{"perm": perm, "project": project, "after": after, "limit": limit}
	rows, err := s.db.WithContext(ctx).Raw(usersWithProjectPermSQL, args).Rows()
	if err != nil {
		return nil, false, dbError(fmt.Sprintf("users with permission %d in project %d", perm, project), err)
	}
	defer rows.Close()
	var (
		found   bool
		users   = map[int64]authz.User{}
		sources = map[int64][]int{}
	)
	for rows.Next() {
		var (
			source    int
			u         authz.User
			createdAt nullTime
		)
		if err := rows.Scan(&source, &u.ID, &u.Username, &u.IsActive, &u.IsSuperuser, &createdAt); err != nil {
			return nil, false, dbError("scan user", err)
		}
		if source < 0 {
			found = true
			continue
		}
		u.CreatedAt = createdAt.Time
		users[u.ID] = u
		sources[u.ID] = append(sources[u.ID], source)
	}
	if err := rows.Err(); err != nil {
		return nil, false, dbError("scan users", err)
	}
	ids := make([]int64, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]authz.UserSources, len(ids))
	for i, id := range ids {
		// Sorted source numbers are decision order; a user in two groups
		// that both hold the permission has the group source once.
		srcs := sources[id]
		slices.Sort(srcs)
		srcs = slices.Compact(srcs)
		out[i] = authz.UserSources{User: users[id], Sources: make([]authz.Reason, len(srcs))}
		for j, src := range srcs {
			out[i].Sources[j] = sourceReasons[src]
		}
	}
	return out, found, nil
}

// CountUsersWithProjectPerm implements authz.ReverseStore in one statement.
func (s *Store) CountUsersWithProjectPerm(ctx context.Context, perm, project int64) (int, error) {
	var c countRow
	err := s.db.WithContext(ctx).Raw(countUsersWithProjectPermSQL,
		map[string]any{"perm": perm, "project": project}).Scan(&c).Error
	if err != nil {
		return 0, dbError(fmt.Sprintf("count users with permission %d in project %d", perm, project), err)
	}
	if c.Found == 0 {
		return 0, &authz.NotFoundError{Kind: "project", ID: project}
	}
	return c.N, nil
}

// nullTime scans a timestamp that may come back as text. SQLite hands the
// driver a DATETIME column's declared type only for a plain column, and a
// column of a UNION ALL whose first branch is a marker row has none, so
// the driver passes the stored text through instead of a time.Time.
type nullTime struct {
	Time  time.Time
	Valid bool
}

// sqliteTimeFormats are the layouts SQLite timestamps are written in: the
// driver's (first) and CURRENT_TIMESTAMP's (last).
var sqliteTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
}

// Scan implements sql.Scanner.
func (t *nullTime) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case nil:
		*t = nullTime{}
		return nil
	case time.Time:
		*t = nullTime{Time: v, Valid: true}
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("cannot scan %T into a timestamp", v)
	}
	s = strings.TrimSuffix(s, "Z")
	for _, layout := range sqliteTimeFormats {
		if tm, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			*t = nullTime{Time: tm, Valid: true}
			return nil
		}
	}
	return fmt.Errorf("cannot parse timestamp %q", s)
}

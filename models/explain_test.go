package models_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
	"gorm.io/gorm"
)

// envExplain switches TestExplain on: it loads models.LargeBulkSpec, which
// takes seconds, so plain test runs skip it.
const envExplain = "GRANTQL_EXPLAIN"

// explainProjects is the number of projects of the batch check: a page of
// 20 projects, each with its buttons, is what a frontend asks in one
// CheckMany.
const explainProjects = 20

// explained is one statement to plan, with its named arguments (a gorm
// statement) or its positional ones.
type explained struct {
	name string
	sql  string
	args map[string]any
	vars []any
	// check marks the statements every check runs: their plans must find
	// every row through an index.
	check bool
}

// TestExplain prints the query plans of the check statement and of the
// reverse questions on models.LargeBulkSpec, and fails when a check plan
// reads a whole table. On PostgreSQL it prints EXPLAIN (ANALYZE, BUFFERS)
// twice per statement: with the arguments' values (a custom plan) and as
// the prepared statement pgx reuses would run after five executions (a
// generic plan). On SQLite it prints EXPLAIN QUERY PLAN.
//
//	GRANTQL_EXPLAIN=1 TEST_DATABASE_URL=postgres://... go test -run TestExplain -v ./models/
func TestExplain(t *testing.T) {
	if os.Getenv(envExplain) != "1" {
		t.Skipf("set %s=1 to load %+v and print query plans", envExplain, models.LargeBulkSpec)
	}
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := dbtest.Open(t, dialect)
			st, err := db.BulkLoad(ctx, models.LargeBulkSpec)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("BulkLoad(%+v): %d grants in %v: %+v", models.LargeBulkSpec, st.Grants(), st.Elapsed.Round(1e6), st)
			statements := explainStatements(t, db, st)
			for _, s := range statements {
				switch dialect {
				case models.Postgres:
					explainPostgres(t, db, s)
				case models.SQLite:
					explainSQLite(t, db, s)
				}
			}
			if dialect == models.Postgres {
				explainDenseGroupGrants(t, db, statements[0])
			}
		})
	}
}

// explainStatements picks a typical user, the first active non-superuser,
// and the projects it holds something in, directly or through a group, so
// that every branch of the check returns rows.
func explainStatements(t *testing.T, db *models.DB, st models.BulkStats) []explained {
	t.Helper()
	user := st.FirstUserID
	var projects []int64
	err := db.Gorm.Raw(`
SELECT DISTINCT pp.project_id FROM project_permissions pp
 WHERE pp.id IN (SELECT project_permission_id FROM project_permission_users WHERE user_id = ?)
    OR pp.id IN (SELECT ppg.project_permission_id FROM project_permission_groups ppg
                   JOIN user_groups ug ON ug.group_id = ppg.group_id WHERE ug.user_id = ?)
 ORDER BY pp.project_id LIMIT ?`, user, user, explainProjects).Scan(&projects).Error
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) < explainProjects {
		t.Fatalf("user %d holds grants in %d projects, want at least %d", user, len(projects), explainProjects)
	}
	var viewPage int64
	if err := db.Gorm.Raw(`SELECT id FROM permissions WHERE app_label = 'projects' AND codename = 'view_page'`).Scan(&viewPage).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("user %d, permission projects.view_page (%d), projects %v", user, viewPage, projects)
	_, secret, err := models.NewStore(db).CreateToken(context.Background(), user, "explain", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The token of user asks about the next user, as an admin's token asks
	// hasProjectPerm about someone, and about user's own project.
	hash := authz.HashToken(secret)
	aboutOther, otherVars := models.ViewerStatement(hash, authz.ViewerLoad{User: user + 1, Projects: projects[:1]})
	aboutSelf, selfVars := models.ViewerStatement(hash, authz.ViewerLoad{Projects: projects[:1]})
	return []explained{
		{name: "token with another user's check, 1 project", sql: aboutOther, check: true, vars: otherVars},
		{name: "token with the viewer's check, 1 project", sql: aboutSelf, check: true, vars: selfVars},
		{name: "check, 1 project", sql: models.LoadGrantsSQL(1), check: true, vars: []any{user, projects[0]}},
		{name: fmt.Sprintf("check, %d projects", explainProjects), sql: models.LoadGrantsSQL(len(projects)), check: true,
			vars: append([]any{user}, int64sAsAny(projects)...)},
		{name: "check, no project (HasPerm)", sql: models.LoadGrantsSQL(0), check: true, vars: []any{user}},
		{name: "ProjectsWithPerm, first 20", sql: models.ProjectsWithPermSQL,
			args: map[string]any{"user": user, "perm": viewPage, "after": 0, "limit": 21}},
		{name: "CountProjectsWithPerm", sql: models.CountProjectsWithPermSQL,
			args: map[string]any{"user": user, "perm": viewPage}},
		{name: "UsersWithProjectPerm, first 20", sql: models.UsersWithProjectPermSQL,
			args: map[string]any{"perm": viewPage, "project": projects[0], "after": 0, "limit": 21}},
		{name: "CountUsersWithProjectPerm", sql: models.CountUsersWithProjectPermSQL,
			args: map[string]any{"perm": viewPage, "project": projects[0]}},
	}
}

func int64sAsAny(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// positional renders a statement with named arguments the way gorm sends
// it: placeholders and their values. A statement with positional
// arguments is sent as it is.
func positional(db *models.DB, s explained) (string, []any) {
	if s.args == nil {
		return s.sql, s.vars
	}
	stmt := db.Gorm.Session(&gorm.Session{DryRun: true}).Raw(s.sql, s.args).Statement
	return stmt.SQL.String(), stmt.Vars
}

// querier is a connection or a transaction.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queryLines runs q on conn and returns the first column of every row.
func queryLines(t *testing.T, conn querier, q string, args ...any) []string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// maxSeqScanPages is the largest table a check's plan may read whole on
// PostgreSQL: up to 8 pages (64 KiB), reading the table costs less than
// probing an index once per group, and the planner rightly says so (the
// 201 global group grants of models.LargeBulkSpec fill 2 pages). Beyond
// that a sequential scan means a missing index or a statement that cannot
// use one.
const maxSeqScanPages = 8

// planMode is one way of planning a statement on PostgreSQL.
type planMode struct {
	name     string
	settings []string // SET for this plan, RESET after
	q        string
	args     []any
	// indexOnly: with sequential scans disabled, a Seq Scan left in the
	// plan is a table that has no index the statement can use.
	indexOnly bool
}

func explainPostgres(t *testing.T, db *models.DB, s explained) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q, vars := positional(db, s)
	literals := make([]string, len(vars))
	for i, v := range vars {
		literals[i] = fmt.Sprint(v) // an integer, or a token's hash in hex
		if _, ok := v.(string); ok {
			literals[i] = "'" + literals[i] + "'"
		}
	}
	queryLines(t, conn, "PREPARE grantql_explain AS "+q)
	defer queryLines(t, conn, "DEALLOCATE grantql_explain")
	execute := "EXPLAIN (ANALYZE, BUFFERS) EXECUTE grantql_explain(" + strings.Join(literals, ", ") + ")"

	modes := []planMode{
		{name: "custom plan", q: "EXPLAIN (ANALYZE, BUFFERS) " + q, args: vars},
		{name: "generic plan", settings: []string{"plan_cache_mode = force_generic_plan"}, q: execute},
	}
	if s.check {
		modes = append(modes, planMode{name: "custom plan, enable_seqscan off", settings: []string{"enable_seqscan = off"},
			q: "EXPLAIN (ANALYZE, BUFFERS) " + q, args: vars, indexOnly: true})
	}
	for _, mode := range modes {
		for _, set := range mode.settings {
			queryLines(t, conn, "SET "+set)
		}
		// The first run reads the pages into shared buffers; the second
		// is what a running service sees.
		queryLines(t, conn, mode.q, mode.args...)
		plan := queryLines(t, conn, mode.q, mode.args...)
		// Timing every node costs two clock reads per row, which on a
		// virtual machine can exceed the work itself; the statement's
		// own time is measured again without them.
		untimed := strings.Replace(mode.q, "EXPLAIN (ANALYZE, BUFFERS)", "EXPLAIN (ANALYZE, TIMING OFF)", 1)
		var total string
		for _, line := range queryLines(t, conn, untimed, mode.args...) {
			if strings.HasPrefix(line, "Execution Time") {
				total = line
			}
		}
		queryLines(t, conn, "RESET ALL")
		t.Logf("%s (%s):\n%s\nWithout per-node timing: %s", s.name, mode.name, strings.Join(plan, "\n"), total)
		if !s.check {
			continue
		}
		for _, line := range plan {
			_, scan, ok := strings.Cut(line, "Seq Scan on ")
			if !ok {
				continue
			}
			table, _, _ := strings.Cut(scan, " ")
			var pages int
			if err := conn.QueryRowContext(ctx, "SELECT relpages FROM pg_class WHERE relname = $1", table).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			switch {
			case mode.indexOnly:
				t.Errorf("%s (%s) has no index path on %s: %s", s.name, mode.name, table, strings.TrimSpace(line))
			case pages > maxSeqScanPages:
				t.Errorf("%s (%s) reads all %d pages of %s: %s", s.name, mode.name, pages, table, strings.TrimSpace(line))
			default:
				t.Logf("%s (%s) reads all of %s, %d pages: cheaper than an index probe per row", s.name, mode.name, table, pages)
			}
		}
	}
}

func explainSQLite(t *testing.T, db *models.DB, s explained) {
	t.Helper()
	q, vars := positional(db, s)
	rows, err := db.SQL().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, vars...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var (
		plan       []string
		depth      = map[int]int{}
		coroutines = map[string]bool{}
	)
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		depth[id] = depth[parent] + 1
		plan = append(plan, strings.Repeat("  ", depth[id]-1)+detail)
		// "SCAN t" reads all of table t; "SCAN t USING COVERING INDEX"
		// reads all of an index. A check may do neither. "SCAN o" of a
		// subquery run as a co-routine reads the rows the subquery finds.
		if name, ok := strings.CutPrefix(detail, "CO-ROUTINE "); ok {
			coroutines[name] = true
		}
		if s.check && strings.HasPrefix(detail, "SCAN ") && !coroutines[strings.TrimPrefix(detail, "SCAN ")] {
			t.Errorf("%s reads a whole table or index: %s", s.name, detail)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (EXPLAIN QUERY PLAN):\n%s", s.name, strings.Join(plan, "\n"))
}

// explainDenseGroupGrants shows that the check's whole read of
// group_permissions is the planner's choice for a table of a few pages, not
// a missing index: with about ten times the global group grants, inside a
// transaction that is rolled back, the check reaches them through
// group_permissions_pkey.
func explainDenseGroupGrants(t *testing.T, db *models.DB, s explained) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// Every group gets the permissions whose id makes id+group a multiple
	// of 5: about 4 of the 20 each.
	queryLines(t, tx, `INSERT INTO group_permissions (group_id, permission_id)
SELECT g.id, p.id FROM groups g CROSS JOIN permissions p WHERE (g.id + p.id) % 5 = 0
ON CONFLICT DO NOTHING`)
	queryLines(t, tx, "ANALYZE group_permissions")
	var rows, pages int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*), pg_relation_size('group_permissions') / current_setting('block_size')::int FROM group_permissions").Scan(&rows, &pages); err != nil {
		t.Fatal(err)
	}
	q, vars := positional(db, s)
	explain := "EXPLAIN (ANALYZE, BUFFERS) " + q
	queryLines(t, tx, explain, vars...)
	plan := queryLines(t, tx, explain, vars...)
	t.Logf("%s (custom plan) with %d global group grants in %d pages:\n%s", s.name, rows, pages, strings.Join(plan, "\n"))
	for _, line := range plan {
		if strings.Contains(line, "Seq Scan on group_permissions") {
			t.Errorf("%s with %d global group grants in %d pages reads them all: %s", s.name, rows, pages, strings.TrimSpace(line))
		}
	}
}

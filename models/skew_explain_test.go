package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// skewSizes are the first group's project grants TestExplainSkewedCheck
// loads, one database each.
var skewSizes = []int{500, 5000, 50000}

// maxSkewBufferGrowth bounds the buffers of the largest size's check over
// the smallest's: the check's cost must not follow the grants the user's
// groups hold in other projects.
const maxSkewBufferGrowth = 1.20

// skewTimedRuns is how many times the check runs for its mean time, which
// the test prints and does not judge.
const skewTimedRuns = 300

// TestExplainSkewedCheck loads the skewed shape of models.LargeBulkSpec
// three times, its first group holding 500, 5,000 and 50,000 project
// grants, and asks the cold check of a member of that group about a
// project where the group holds a grant (the same user and project each
// time). It prints EXPLAIN (ANALYZE, BUFFERS) of the token statement and
// of the check statement, custom and generic plans, and fails when the
// shared buffers of any of them at 50,000 exceed those at 500 by more than
// 20%. PostgreSQL only, and only with GRANTQL_EXPLAIN=1:
//
//	GRANTQL_EXPLAIN=1 TEST_DATABASE_URL=postgres://... go test -run TestExplainSkewedCheck -v ./models/
func TestExplainSkewedCheck(t *testing.T) {
	if !explainOn() {
		t.Skipf("set %s=1 to load the skewed dataset three times and print the check's plans", envExplain)
	}
	if !slicesContains(dbtest.Dialects(), models.Postgres) {
		t.Skipf("set %s: the buffers are PostgreSQL's", dbtest.EnvPostgres)
	}
	// buffers[statement/mode][size index]
	buffers := map[string][]int{}
	var order []string
	for _, size := range skewSizes {
		ctx := context.Background()
		db := dbtest.Open(t, models.Postgres)
		spec := models.LargeBulkSpec
		spec.Shape, spec.LargestGroupGrants = models.ShapeSkewed, size
		st, err := db.BulkLoad(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		user, project, groups := skewSubject(t, db, st)
		t.Logf("largest group %d grants: %d grants loaded in %v; user %d in groups %v (their project grants %v), project %d",
			size, st.Grants(), st.Elapsed.Round(time.Millisecond), user, groups, groupGrantCounts(t, db, groups), project)
		_, secret, err := models.NewStore(db).CreateToken(ctx, user, "explain", nil)
		if err != nil {
			t.Fatal(err)
		}
		token, tokenVars := models.ViewerStatement(authz.HashToken(secret), authz.ViewerLoad{Projects: []int64{project}})
		for _, s := range []explained{
			{name: "token statement, the viewer's check", sql: token, vars: tokenVars},
			{name: "check statement (LoadGrants), 1 project", sql: models.LoadGrantsSQL(1), vars: []any{user, project}},
		} {
			for _, generic := range []bool{false, true} {
				name := s.name + ", custom plan"
				if generic {
					name = s.name + ", generic plan"
				}
				hit, plan, perCheck := skewExplain(t, db, s, generic)
				if _, ok := buffers[name]; !ok {
					order = append(order, name)
				}
				buffers[name] = append(buffers[name], hit)
				t.Logf("largest group %d grants, %s: %d shared buffers, %v per statement (mean of %d, without EXPLAIN):\n%s",
					size, name, hit, perCheck, skewTimedRuns, plan)
			}
		}
	}
	for _, name := range order {
		b := buffers[name]
		t.Logf("%s: shared buffers %v for the largest group's %v grants", name, b, skewSizes)
		if float64(b[len(b)-1]) > maxSkewBufferGrowth*float64(b[0]) {
			t.Errorf("%s reads %d buffers with the largest group at %d grants, %d at %d: more than %.0f%% more",
				name, b[len(b)-1], skewSizes[len(skewSizes)-1], b[0], skewSizes[0], 100*(maxSkewBufferGrowth-1))
		}
	}
}

func explainOn() bool { return os.Getenv(envExplain) == "1" }

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// skewSubject returns the member of the first group in the most groups
// (the lowest id among them), active and not a superuser, with its groups,
// and the project of the first project grant loaded, which is the first
// group's: the same in every size.
func skewSubject(t *testing.T, db *models.DB, st models.BulkStats) (user, project int64, groups []int64) {
	t.Helper()
	err := db.Gorm.Raw(`
SELECT u.id FROM users u JOIN user_groups ug ON ug.user_id = u.id
 WHERE u.is_active AND NOT u.is_superuser
   AND EXISTS (SELECT 1 FROM user_groups f WHERE f.user_id = u.id AND f.group_id = ?)
 GROUP BY u.id ORDER BY COUNT(*) DESC, u.id LIMIT 1`, st.FirstGroupID).Scan(&user).Error
	if err != nil || user == 0 {
		t.Fatalf("no active member of group %d: %v", st.FirstGroupID, err)
	}
	if err := db.Gorm.Raw(`SELECT group_id FROM user_groups WHERE user_id = ? ORDER BY group_id`, user).Scan(&groups).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Raw(`SELECT project_id FROM project_permissions ORDER BY id LIMIT 1`).Scan(&project).Error; err != nil {
		t.Fatal(err)
	}
	return user, project, groups
}

// groupGrantCounts returns the project grants of each group.
func groupGrantCounts(t *testing.T, db *models.DB, groups []int64) []int {
	t.Helper()
	out := make([]int, len(groups))
	for i, g := range groups {
		if err := db.Gorm.Raw(`SELECT COUNT(*) FROM project_permission_groups WHERE group_id = ?`, g).Scan(&out[i]).Error; err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// skewExplain runs s warm and returns the shared buffers its plan touches
// (hit and read), the plan in text, and the statement's mean time over
// skewTimedRuns runs as a prepared statement, in the plan mode asked.
func skewExplain(t *testing.T, db *models.DB, s explained, generic bool) (int, string, time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	literals := make([]string, len(s.vars))
	for i, v := range s.vars {
		literals[i] = fmt.Sprint(v)
		if _, ok := v.(string); ok {
			literals[i] = "'" + literals[i] + "'"
		}
	}
	if generic {
		queryLines(t, conn, "SET plan_cache_mode = force_generic_plan")
	} else {
		queryLines(t, conn, "SET plan_cache_mode = force_custom_plan")
	}
	defer queryLines(t, conn, "RESET ALL")
	queryLines(t, conn, "PREPARE grantql_skew AS "+s.sql)
	defer queryLines(t, conn, "DEALLOCATE grantql_skew")
	execute := "EXECUTE grantql_skew(" + strings.Join(literals, ", ") + ")"
	queryLines(t, conn, "EXPLAIN (ANALYZE, BUFFERS) "+execute)
	plan := queryLines(t, conn, "EXPLAIN (ANALYZE, BUFFERS) "+execute)
	doc := strings.Join(queryLines(t, conn, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+execute), "\n")
	var parsed []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil || len(parsed) != 1 {
		t.Fatalf("EXPLAIN (FORMAT JSON) of %s: %v\n%s", s.name, err, doc)
	}
	start := time.Now()
	for range skewTimedRuns {
		rows, err := conn.QueryContext(ctx, execute)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	perCheck := time.Since(start) / skewTimedRuns
	return parsed[0].Plan.Hit + parsed[0].Plan.Read, strings.Join(plan, "\n"), perCheck
}

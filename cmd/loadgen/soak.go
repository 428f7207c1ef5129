package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/grantql/grantql/models"
)

// The soak's criteria.
const (
	// soakWarmup is the soak's warm-up unless -warmup says otherwise. The
	// server's bounded structures fill in its first minute under load: the
	// shared cache, the decision-log queue (full whenever logs arrive
	// faster than the database stores them), the connection pool and the
	// heap the collector settles at. The memory criterion compares the
	// resident size after them with the size at the end, so that what it
	// sees is growth beyond those bounds: a leak.
	soakWarmup = time.Minute
	// rssTolerance is how far the server's resident size may move between
	// the start and the end of the traffic: "flat within 20%".
	rssTolerance = 0.20
	// maxMismatchLines bounds the requests a failed decision-log count
	// lists.
	maxMismatchLines = 10
)

// soakReport is the verdict of a soak.
type soakReport struct {
	Requests       int64 `json:"requests"`
	Writes         int64 `json:"writes"`
	ReadYourWrites int64 `json:"readYourWrites"`
	Errors         int64 `json:"errors"`
	ErrorsPass     bool  `json:"errorsPass"`

	RSSStart  int64   `json:"rssStart"`
	RSSEnd    int64   `json:"rssEnd"`
	RSSMax    int64   `json:"rssMax"`
	RSSChange float64 `json:"rssChange"` // (end - start) / start
	// RSSByMinute is the resident size at the end of each minute.
	RSSByMinute []int64 `json:"rssByMinute,omitempty"`
	RSSPass     bool    `json:"rssPass"`

	LogsExpected int64 `json:"decisionLogsExpected"`
	LogsFound    int64 `json:"decisionLogsFound"`
	// LogsWhole counts the logs found whose lines end in their RESULT
	// line, tagged auto (docs/model.md, Decision logs): all of them, if nothing was cut.
	LogsWhole  int64    `json:"decisionLogsWhole"`
	LogsPass   bool     `json:"decisionLogsPass"`
	LogsDetail []string `json:"decisionLogsDetail,omitempty"`

	Rechecked   int      `json:"rechecked"`
	Disagreed   int      `json:"disagreed"`
	RecheckPass bool     `json:"recheckPass"`
	RecheckDiff []string `json:"recheckDiff,omitempty"`

	ServerStop     string `json:"serverStop,omitempty"` // why the server did not stop cleanly
	ServerStopPass bool   `json:"serverStopPass"`

	Pass bool `json:"pass"`
}

// The SQL below runs in the load generator, not in models/, on purpose:
// it is the oracle the server's answers are held to after a soak, and an
// oracle that shared the server's code would share its mistakes. It reads
// the database directly, after the server has stopped and flushed.

// referenceSQL decides docs/model.md's decision for one (user, permission, project) in the
// plainest way: inactive users hold nothing, active superusers
// everything, and otherwise one grant of the four kinds is enough.
const referenceSQL = `
SELECT CASE
  WHEN NOT u.is_active THEN 0
  WHEN u.is_superuser THEN 1
  WHEN EXISTS (SELECT 1 FROM user_permissions up
                WHERE up.user_id = u.id AND up.permission_id = ?) THEN 1
  WHEN EXISTS (SELECT 1 FROM user_groups ug JOIN group_permissions gp ON gp.group_id = ug.group_id
                WHERE ug.user_id = u.id AND gp.permission_id = ?) THEN 1
  WHEN EXISTS (SELECT 1 FROM project_permissions pp
                 JOIN project_permission_users ppu ON ppu.project_permission_id = pp.id
                WHERE pp.project_id = ? AND pp.permission_id = ? AND ppu.user_id = u.id) THEN 1
  WHEN EXISTS (SELECT 1 FROM project_permissions pp
                 JOIN project_permission_groups ppg ON ppg.project_permission_id = pp.id
                 JOIN user_groups ug ON ug.group_id = ppg.group_id
                WHERE pp.project_id = ? AND pp.permission_id = ? AND ug.user_id = u.id) THEN 1
  ELSE 0 END
FROM users u WHERE u.id = ?`

// rebind turns ? placeholders into PostgreSQL's $1, $2, ...
func rebind(dialect, q string) string {
	if dialect != models.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// recheck recomputes each answer with referenceSQL and returns the ones
// that disagree.
func recheck(ctx context.Context, db *sql.DB, dialect string, answers []answer) ([]string, error) {
	permIDs := map[string]int64{}
	var diff []string
	q := rebind(dialect, referenceSQL)
	for _, a := range answers {
		pid, ok := permIDs[a.Perm]
		if !ok {
			app, code, _ := strings.Cut(a.Perm, ".")
			err := db.QueryRowContext(ctx, rebind(dialect, "SELECT id FROM permissions WHERE app_label = ? AND codename = ?"), app, code).Scan(&pid)
			if err != nil {
				return nil, fmt.Errorf("permission %s: %w", a.Perm, err)
			}
			permIDs[a.Perm] = pid
		}
		var allowed int
		if err := db.QueryRowContext(ctx, q, pid, pid, a.Project, pid, a.Project, pid, a.User).Scan(&allowed); err != nil {
			return nil, fmt.Errorf("re-check (%s, %d, user %d): %w", a.Perm, a.Project, a.User, err)
		}
		if (allowed == 1) != a.Allowed {
			diff = append(diff, fmt.Sprintf("(%s, project %d, user %d): the server answered %t, the database says %t",
				a.Perm, a.Project, a.User, a.Allowed, allowed == 1))
		}
	}
	return diff, nil
}

// countDecisionLogs counts the rows of decision_logs, and those whose
// stored lines (a JSON array) end in the automatic RESULT line.
func countDecisionLogs(ctx context.Context, db *sql.DB) (all, whole int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN auto_tagged AND (
		entries LIKE '%{"text":"RESULT: Permission Granted","tags":["auto"]}]'
		OR entries LIKE '%{"text":"RESULT: Permission Denied","tags":["auto"]}]') THEN 1 ELSE 0 END), 0)
		FROM decision_logs`).Scan(&all, &whole)
	return all, whole, err
}

// logMismatches explains a decision-log count that differs: the requests
// whose rows differ from what their id says they should have left (the
// load generator's ids are lg-<logs>-<n>), and rows of other requests.
// answered is how many requests answered without error.
func logMismatches(ctx context.Context, db *sql.DB, answered int64) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT request_id, COUNT(*) FROM decision_logs GROUP BY request_id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out                 []string
		requests, foreign   int64
		differ, foreignRows int64
	)
	for rows.Next() {
		var (
			reqID string
			n     int64
		)
		if err := rows.Scan(&reqID, &n); err != nil {
			return nil, err
		}
		parts := strings.Split(reqID, "-")
		want, err := strconv.ParseInt(valueAt(parts, 1), 10, 64)
		if len(parts) != 3 || parts[0] != "lg" || err != nil {
			foreign++
			foreignRows += n
			continue
		}
		requests++
		if n != want {
			differ++
			if len(out) < maxMismatchLines {
				out = append(out, fmt.Sprintf("request %s left %d decision logs, want %d", reqID, n, want))
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out = append(out, fmt.Sprintf("%d requests left logs (%d answered without error); %d of them left another count than expected; %d rows of %d requests not sent by the load generator",
		requests, answered, differ, foreignRows, foreign))
	return out, nil
}

func valueAt(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// sampleAnswers draws up to n answers from the workers' reservoirs.
func sampleAnswers(workers []*worker, n int) []answer {
	var all []answer
	for _, w := range workers {
		all = append(all, w.stats.reservoir...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(n, len(all))]
}

// writeStates returns every write key with the state the run left it in.
func writeStates(p *prepared) []answer {
	out := make([]answer, len(p.writes))
	for i, k := range p.writes {
		out[i] = answer{k.User, k.Perm, k.Project, p.granted[i]}
	}
	return out
}

// judgeSoak fills in the verdicts of a soak from what it measured and
// from the database, read after the server has stopped.
func judgeSoak(ctx context.Context, r *soakReport, dbURL string, p *prepared, workers []*worker, answered int64) error {
	r.ErrorsPass = r.Errors == 0
	if r.RSSStart > 0 {
		r.RSSChange = float64(r.RSSEnd-r.RSSStart) / float64(r.RSSStart)
		r.RSSPass = r.RSSChange <= rssTolerance && r.RSSChange >= -rssTolerance
	}
	db, err := models.Open(dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	sqlDB := db.SQL()
	if r.LogsFound, r.LogsWhole, err = countDecisionLogs(ctx, sqlDB); err != nil {
		return fmt.Errorf("count decision logs: %w", err)
	}
	r.LogsPass = r.LogsFound == r.LogsExpected && r.LogsWhole == r.LogsFound
	if !r.LogsPass {
		if r.LogsDetail, err = logMismatches(ctx, sqlDB, answered); err != nil {
			return fmt.Errorf("explain the decision-log count: %w", err)
		}
	}
	answers := append(sampleAnswers(workers, sampleSize), writeStates(p)...)
	diff, err := recheck(ctx, sqlDB, db.Dialect, answers)
	if err != nil {
		return err
	}
	r.Rechecked, r.Disagreed = len(answers), len(diff)
	r.RecheckPass = len(answers) > 0 && len(diff) == 0
	r.RecheckDiff = diff[:min(len(diff), maxMismatchLines)]
	r.Pass = r.ErrorsPass && r.RSSPass && r.LogsPass && r.RecheckPass && r.ServerStopPass
	return nil
}

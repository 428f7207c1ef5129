package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// spillProbeType is the object type of the spill tests' checks.
const spillProbeType = "SpillProbe"

// spillChecks is how many checks the spill test makes while the database
// cannot store their logs: several of the writer's batches.
const spillChecks = 1200

// blockLogWrites makes the decision log writer wait, without stopping the
// checks: on SQLite, a write transaction held open (the writer waits for
// the lock; readers go on in WAL mode); on PostgreSQL, decision_logs
// locked against writers (readers go on). It returns the function that
// lets the writes through again.
func blockLogWrites(t *testing.T, db *models.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"BEGIN IMMEDIATE"}
	if db.Dialect == models.Postgres {
		stmts = []string{"BEGIN", "LOCK TABLE decision_logs IN EXCLUSIVE MODE"}
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Errorf("release the log writes: %v", err)
			}
			conn.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// spillCounts are the figures serve logs about the spool: spilled, from
// the line a stopping server writes; logs, stored and present from the
// line of a start that replayed the spool.
var (
	spilledRE  = regexp.MustCompile(`msg="decision log writer stopped".* spilled=(\d+) lost=(\d+)`)
	replayedRE = regexp.MustCompile(`msg="decision log spool replayed.* logs=(\d+) stored=(\d+) already_stored=(\d+)`)
)

func spilledCount(t *testing.T, stderr string) (spilled, lost int) {
	t.Helper()
	m := spilledRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("serve logged no decision log writer line:\n%s", stderr)
	}
	spilled, _ = strconv.Atoi(m[1])
	lost, _ = strconv.Atoi(m[2])
	return spilled, lost
}

func replayedCount(t *testing.T, stderr string) (logs, stored, present int) {
	t.Helper()
	m := replayedRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("serve logged no replay of the spool:\n%s", stderr)
	}
	logs, _ = strconv.Atoi(m[1])
	stored, _ = strconv.Atoi(m[2])
	present, _ = strconv.Atoi(m[3])
	return logs, stored, present
}

// spoolFileCount returns how many complete spool files dir holds.
func spoolFileCount(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "decision-logs-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// probeLogCounts counts the stored logs of objectType's checks by user:
// rows, and distinct object ids.
func probeLogCounts(t *testing.T, db *models.DB, objectType, user string) (rows, objects int64) {
	t.Helper()
	var c struct{ Rows, Objects int64 }
	if err := db.Gorm.Raw(`SELECT COUNT(*) AS rows, COUNT(DISTINCT object_id) AS objects FROM decision_logs
		WHERE object_type = ? AND user_id = ?`, objectType, user).Scan(&c).Error; err != nil {
		t.Fatalf("count the probe logs: %v", err)
	}
	return c.Rows, c.Objects
}

// proxiedPostgres returns a fresh PostgreSQL database's URL through a
// proxy that the test can cut, its direct URL, and the proxy.
func proxiedPostgres(t *testing.T) (proxiedURL, directURL string, proxy *dbProxy) {
	t.Helper()
	direct, err := url.Parse(dbtest.URL(t, models.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	target := direct.Host
	if direct.Port() == "" {
		target = net.JoinHostPort(direct.Hostname(), "5432")
	}
	proxy = startDBProxy(t, target)
	proxied := *direct
	proxied.Host = proxy.addr
	return proxied.String(), direct.String(), proxy
}

// TestShutdownSpillsPendingLogs stops the server while the database
// cannot take its decision logs — their table locked against writers
// (both databases), or the database unreachable as well (PostgreSQL,
// through a proxy that is cut) — so that the shutdown's deadline surely
// passes with every log of spillChecks answered checks pending. serve
// must stop cleanly, store none of them, lose none, and spill them all;
// the next start must store each exactly once (a batch that the first
// server's writer committed after all included), find every promised log
// by the id its check returned, and leave the spool empty.
func TestShutdownSpillsPendingLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 1,200 requests and starts the server twice")
	}
	type setup struct {
		name    string
		dialect string
		down    bool // cut the database off too, once the checks are answered
	}
	var cases []setup
	for _, d := range dbtest.Dialects() {
		cases = append(cases, setup{"locked/" + d, d, false})
	}
	if len(dbtest.Dialects()) > 1 {
		cases = append(cases, setup{"down/postgres", models.Postgres, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The server reaches the database at dbURL, the test at
			// direct: around the proxy, when there is one.
			var (
				dbURL, direct string
				proxy         *dbProxy
			)
			if c.down {
				dbURL, direct, proxy = proxiedPostgres(t)
			} else {
				dbURL = dbtest.URL(t, c.dialect)
				direct = dbURL
			}
			spool := t.TempDir()
			args := []string{"--database-url", dbURL, "--decision-log-spool", spool,
				"--decision-log-verbosity", "1", "--decision-log-sample", "1"}
			// The first server's deadline is short, since the test makes
			// sure that it passes.
			first := serveInProcess(t, append(args, "--shutdown-timeout", "3s")...)
			admin := first.adminToken()
			gql := newGQLClient(first.addr)
			defer gql.client.Transport.(*http.Transport).CloseIdleConnections()
			user, project, token := makeProber(t, gql, admin)

			db, err := models.Open(direct)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			release := blockLogWrites(t, db)

			const q = `query($p: ID!, $id: ID!) { check(input: {perm: "projects.view_page", project: $p, object: {type: "` +
				spillProbeType + `", id: $id}}) { allowed log { id } } }`
			promised := make([]string, spillChecks) // the log ids the checks returned
			var wg sync.WaitGroup
			jobs := make(chan int)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						var out struct {
							Check struct {
								Allowed bool
								Log     struct{ ID string }
							}
						}
						err := gql.post(token, "", q, map[string]any{"p": project, "id": strconv.Itoa(i)}, &out)
						if err == nil && (!out.Check.Allowed || out.Check.Log.ID == "") {
							err = fmt.Errorf("got %+v, want allowed with a log", out.Check)
						}
						if err != nil {
							t.Errorf("check %d: %v", i, err)
							continue
						}
						promised[i] = out.Check.Log.ID
					}
				}()
			}
			for i := range spillChecks {
				jobs <- i
			}
			close(jobs)
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			if proxy != nil {
				proxy.Cut()
			}
			// Every request is answered: the client's connections are
			// closed, so that the HTTP server stops at once. (A connection
			// the client dialed and never used would hold it for 5
			// seconds, past the deadline.)
			gql.client.Transport.(*http.Transport).CloseIdleConnections()

			if err := first.stop(); err != nil {
				t.Fatalf("serve returned %v on shutdown, want nil; stderr:\n%s", err, first.stderr.String())
			}
			stderr := first.stderr.String()
			spilled, lost := spilledCount(t, stderr)
			if rows, _ := probeLogCounts(t, db, spillProbeType, user); rows != 0 {
				t.Fatalf("%d probe logs stored while their table was locked, want 0", rows)
			}
			if spilled < spillChecks || lost != 0 {
				t.Errorf("serve stopped with %d logs spilled and %d lost, want at least %d spilled (every answered check's) and none lost",
					spilled, lost, spillChecks)
			}
			if strings.Contains(stderr, "decision logs lost") || strings.Contains(stderr, "flush decision logs") {
				t.Errorf("serve logged lost decision logs:\n%s", stderr)
			}
			if spoolFileCount(t, spool) == 0 {
				t.Fatalf("the spool %s holds no file after a shutdown that spilled %d logs", spool, spilled)
			}

			// The database takes writes again; the next start replays the
			// spool before it serves.
			release()
			if proxy != nil {
				proxy.Restore()
			}
			second := serveInProcess(t, args...)
			gql = newGQLClient(second.addr)
			defer gql.client.Transport.(*http.Transport).CloseIdleConnections()
			logs, stored, present := replayedCount(t, second.stderr.String())
			if logs != spilled || stored+present != logs {
				t.Errorf("the replay read %d logs, stored %d and found %d stored; want the %d spilled, each stored or found",
					logs, stored, present, spilled)
			}
			rows, objects := probeLogCounts(t, db, spillProbeType, user)
			if rows != spillChecks || objects != spillChecks {
				t.Errorf("after the restart the probe logs are %d rows for %d objects, want %d of each: nothing lost, nothing doubled",
					rows, objects, spillChecks)
			}
			if n := spoolFileCount(t, spool); n != 0 {
				t.Errorf("the spool holds %d files after the replay, want none", n)
			}
			for _, i := range []int{0, spillChecks / 2, spillChecks - 1} {
				var out struct{ DecisionLog *struct{ ObjectID string } }
				if err := gql.post(token, "", `query($id: ID!) { decisionLog(id: $id) { objectId } }`,
					map[string]any{"id": promised[i]}, &out); err != nil {
					t.Fatalf("decisionLog(%s): %v", promised[i], err)
				}
				if out.DecisionLog == nil || out.DecisionLog.ObjectID != strconv.Itoa(i) {
					t.Errorf("decisionLog(%s) of check %d = %+v, want its log", promised[i], i, out.DecisionLog)
				}
			}
			t.Logf("%s: %d checks answered; at shutdown %d logs spilled; at the restart %d stored and %d found stored already",
				c.name, spillChecks, spilled, stored, present)
		})
	}
}

// makeProber creates, as the admin, a user who holds projects.view_page
// in a new project, and a token for them.
func makeProber(t *testing.T, c *gqlClient, admin string) (user, project, token string) {
	t.Helper()
	var setup struct {
		CreateUser     struct{ ID string }
		CreateProject  struct{ ID string }
		CreateAPIToken struct{ Token string } `json:"createApiToken"`
	}
	if err := c.post(admin, "", `mutation { createUser(input: {username: "prober"}) { id } createProject(name: "probes") { id } }`, nil, &setup); err != nil {
		t.Fatalf("create the user and the project: %v", err)
	}
	user, project = setup.CreateUser.ID, setup.CreateProject.ID
	var grant struct {
		GrantProjectPerm struct{ Users []struct{ ID string } }
	}
	if err := c.post(admin, "", `mutation($p: ID!, $u: ID!) { grantProjectPerm(perm: "projects.view_page", project: $p, user: $u) { users { id } } }`,
		map[string]any{"p": project, "u": user}, &grant); err != nil {
		t.Fatalf("grant projects.view_page: %v", err)
	}
	if err := c.post(admin, "", `mutation($u: ID!) { createApiToken(user: $u, name: "probe") { token } }`,
		map[string]any{"u": user}, &setup); err != nil {
		t.Fatalf("create the user's token: %v", err)
	}
	return user, project, setup.CreateAPIToken.Token
}

// TestSpoolReplayedOnStart leaves spool files before the server's first
// start: one of this database, which serve must store before it serves
// (its logs are then readable through GraphQL, and the file is gone), and
// one of another database in the same folder, which it must leave alone.
func TestSpoolReplayedOnStart(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dbURL := dbtest.URL(t, dialect)
			db, err := models.Open(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			identity := db.Identity()
			db.Close()
			dir := t.TempDir()
			ours, err := authz.NewLogSpool(dir, identity)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := authz.NewLogSpool(dir, identity+"-another")
			if err != nil {
				t.Fatal(err)
			}
			var logs []authz.DecisionLog
			for i := range 3 {
				logs = append(logs, authz.DecisionLog{UID: fmt.Sprintf("0190cccc%024d", i), Name: fmt.Sprintf("auto-projects.view_page-%d", i),
					Perm: "projects.view_page", Reason: authz.ReasonAnonymous, ObjectType: "Spooled", ObjectID: strconv.Itoa(i),
					Entries: []authz.LogEntry{{Text: "RESULT: Permission Denied", Tags: []string{authz.TagAuto}}},
					Source:  "Query.check", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})
			}
			for _, s := range []*authz.LogSpool{ours, theirs} {
				if _, err := s.Spill(logs); err != nil {
					t.Fatal(err)
				}
			}

			srv := serveInProcess(t, "--database-url", dbURL, "--decision-log-spool", dir)
			if n, stored, present := replayedCount(t, srv.stderr.String()); n != 3 || stored != 3 || present != 0 {
				t.Errorf("the replay read %d logs, stored %d, found %d stored; want 3, 3, 0", n, stored, present)
			}
			var out struct {
				DecisionLogs struct {
					Edges []struct{ Node struct{ ObjectID string } }
				}
				DecisionLog *struct{ Name string }
			}
			gql := newGQLClient(srv.addr)
			defer gql.client.Transport.(*http.Transport).CloseIdleConnections()
			if err := gql.post(srv.adminToken(), "", `query($id: ID!) { decisionLogs(filter: {objectType: "Spooled"}, first: 10) { edges { node { objectId } } }
				decisionLog(id: $id) { name } }`, map[string]any{"id": logs[1].UID}, &out); err != nil {
				t.Fatal(err)
			}
			if len(out.DecisionLogs.Edges) != 3 || out.DecisionLog == nil || out.DecisionLog.Name != logs[1].Name {
				t.Errorf("after the start decisionLogs has %d spooled logs and decisionLog(%s) = %+v; want 3, and %s",
					len(out.DecisionLogs.Edges), logs[1].UID, out.DecisionLog, logs[1].Name)
			}
			if files, err := ours.Files(); err != nil || len(files) != 0 {
				t.Errorf("this database's spool files after the start: %v, %v; want none", files, err)
			}
			if files, err := theirs.Files(); err != nil || len(files) != 1 {
				t.Errorf("another database's spool files after the start: %v, %v; want its one file, untouched", files, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the spool folder holds %d entries, want only the other database's file", len(entries))
			}
		})
	}
}

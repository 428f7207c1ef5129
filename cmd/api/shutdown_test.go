package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// probeType is the object type of the shutdown test's checks: no other
// check uses it, so its logs are exactly the checks' logs.
const probeType = "ShutdownProbe"

// shutdownChecks is how many checks the shutdown test makes, each a
// distinct decision in a request of its own, and shutdownWorkers how many
// goroutines make them.
const (
	shutdownChecks  = 10000
	shutdownWorkers = 32
)

// shutdownChecksFor returns the number of checks for dialect. The
// pure-Go SQLite driver runs some ten times slower under the race
// detector, where 10,000 requests take over a minute: there the test
// makes 2,000, enough for the writer to hold logs at shutdown, and the
// full 10,000 without -race (as on PostgreSQL always).
func shutdownChecksFor(dialect string) int {
	if raceEnabled && dialect == models.SQLite {
		return 2000
	}
	return shutdownChecks
}

// gqlClient posts GraphQL requests to a running server over keep-alive
// connections, one per worker.
type gqlClient struct {
	url    string
	client *http.Client
}

func newGQLClient(addr string) *gqlClient {
	tr := &http.Transport{MaxIdleConnsPerHost: shutdownWorkers, MaxConnsPerHost: shutdownWorkers}
	return &gqlClient{url: "http://" + addr + "/graphql", client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// post sends query with vars as the owner of token, with requestID as its
// X-Request-Id, and decodes the data into out. It returns an error for a
// transport failure, a status other than 200, or any GraphQL error.
func (c *gqlClient) post(token, requestID, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var resp struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&resp); err != nil {
		return fmt.Errorf("status %d: decode: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK || len(resp.Errors) > 0 {
		return fmt.Errorf("status %d, errors %+v", res.StatusCode, resp.Errors)
	}
	return json.Unmarshal(resp.Data, out)
}

// waitReady waits until the server at addr answers /readyz.
func waitReady(t *testing.T, addr string, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 30s; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeCounts are the decision_logs rows of the shutdown test's checks.
type probeCounts struct {
	Rows, Objects, Requests int64
}

func countProbeLogs(t *testing.T, db *models.DB, user string) probeCounts {
	t.Helper()
	var c probeCounts
	err := db.Gorm.Raw(`SELECT COUNT(*) AS rows, COUNT(DISTINCT object_id) AS objects, COUNT(DISTINCT request_id) AS requests
		FROM decision_logs WHERE object_type = ? AND user_id = ? AND name LIKE ?`,
		probeType, user, "auto-projects.view_page-%").Scan(&c).Error
	if err != nil {
		t.Fatalf("count the probe logs: %v", err)
	}
	return c
}

// TestShutdownKeepsEveryDecisionLog runs the real server, makes 10,000
// checks (shutdownChecksFor) over HTTP from 32 goroutines, each a distinct decision in a
// request of its own, shuts the server down gracefully as soon as the last
// answer is in, and counts the stored logs of those checks: exactly one
// per check, nothing lost in the queue at shutdown, nothing written twice.
func TestShutdownKeepsEveryDecisionLog(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 10,000 requests")
	}
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			checks := shutdownChecksFor(dialect)
			url := dbtest.URL(t, dialect)
			srv := serveInProcess(t, "--database-url", url, "--log-level", "warn",
				"--decision-log-verbosity", "1", "--decision-log-sample", "1")
			addr, admin := srv.addr, srv.adminToken()
			if admin == "" {
				t.Fatalf("serve printed no admin token; stdout: %q", srv.stdout.String())
			}

			// A user who is no superuser, holding projects.view_page in a
			// project, with a token: all through GraphQL, as the admin.
			c := newGQLClient(addr)
			defer c.client.Transport.(*http.Transport).CloseIdleConnections()
			user, project, token := makeProber(t, c, admin)

			const q = `query($p: ID!, $id: ID!) { check(input: {perm: "projects.view_page", project: $p, object: {type: "` +
				probeType + `", id: $id}}) { allowed reason } }`
			start := time.Now()
			jobs := make(chan int)
			var (
				wg       sync.WaitGroup
				answered atomic.Int64
				failures atomic.Int64
				firstErr sync.Once
			)
			for range shutdownWorkers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						var out struct{ Check struct{ Allowed bool } }
						err := c.post(token, fmt.Sprintf("probe-%d", i), q, map[string]any{"p": project, "id": fmt.Sprint(i)}, &out)
						if err == nil && !out.Check.Allowed {
							err = fmt.Errorf("check %d denied, want allowed", i)
						}
						if err != nil {
							failures.Add(1)
							firstErr.Do(func() { t.Errorf("check %d: %v", i, err) })
							continue
						}
						answered.Add(1)
					}
				}()
			}
			for i := range checks {
				jobs <- i
			}
			close(jobs)
			wg.Wait()
			checking := time.Since(start)

			// How many logs the writer still held when shutdown began
			// (for the record: the count races with the writer).
			db, err := models.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			before := countProbeLogs(t, db, user)
			if err := srv.stop(); err != nil {
				t.Fatalf("serve returned %v after a graceful shutdown, want nil; stderr: %s", err, srv.stderr.String())
			}
			stopping := time.Since(start) - checking

			got := countProbeLogs(t, db, user)
			n := answered.Load()
			t.Logf("%s: %d checks answered (%d failed) in %v (%.0f/s) by %d goroutines; %d of their logs stored before shutdown, %d after; shutdown took %v",
				dialect, n, failures.Load(), checking.Round(time.Millisecond), float64(n)/checking.Seconds(), shutdownWorkers,
				before.Rows, got.Rows-before.Rows, stopping.Round(time.Millisecond))
			want := probeCounts{Rows: int64(checks), Objects: int64(checks), Requests: int64(checks)}
			if n != int64(checks) {
				t.Fatalf("%d of %d checks answered, want all", n, checks)
			}
			if got != want {
				t.Errorf("stored logs of the checks: %d rows for %d objects in %d requests, want %d of each: nothing lost, nothing doubled",
					got.Rows, got.Objects, got.Requests, checks)
			}
			if log := srv.stderr.String(); strings.Contains(log, "decision logs lost") || strings.Contains(log, "flush decision logs") {
				t.Errorf("serve logged lost decision logs: %s", log)
			}
		})
	}
}

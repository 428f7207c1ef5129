package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// signalProbeType is the object type of the signal tests' checks: no other
// check uses it, so its decision logs are exactly theirs.
const signalProbeType = "SignalProbe"

// signalWorkers is how many goroutines send checks at once in the signal
// tests: enough that the signal always finds requests in flight.
const signalWorkers = 16

// signalProbe is the check the signal tests send: check i asks about
// object i, so that each is a distinct decision with a log of its own, and
// alternates between a permission the prober holds in the project and one
// it does not, so that a wrong answer either way shows.
const signalProbe = `query($p: ID!, $perm: String!, $id: ID!) {
  check(input: {perm: $perm, project: $p, object: {type: "` + signalProbeType + `", id: $id}}) { allowed reason }
}`

// signalProbeWant returns check i's permission and the answer it must get.
func signalProbeWant(i int64) (perm string, allowed bool, reason string) {
	if i%2 == 0 {
		return "projects.view_page", true, "PROJECT_USER"
	}
	return "projects.delete_page", false, "NO_GRANT"
}

// TestSignalUnderLoad runs the server binary on each database, drives
// checks at it from signalWorkers goroutines, and sends it SIGTERM (or
// SIGINT) once `before` checks are answered, while more are in flight. The
// process must exit with status 0; every check that got a response must
// have got 200 and the right answer (a request refused because the
// listener had closed, or sent on a keep-alive connection that the
// stopping server closed as idle before reading it, was never accepted and
// is counted apart; a timeout is a failure). The logs the stopping server
// could not write by its deadline, however loaded the machine, are spilled
// to the spool, and a second start stores them before it serves: then
// decision_logs must hold exactly one log for each answered check and
// none for any other (no accepted request and no decision log lost at
// shutdown, none written twice), and the second start must have read
// from the spool exactly as many logs as the first spilled.
func TestSignalUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server binary four times and makes thousands of requests")
	}
	bin := serverBinary(t)
	for _, c := range []struct {
		name   string
		sig    os.Signal
		before int64
	}{
		{"SIGTERM", syscall.SIGTERM, 2000},
		{"SIGINT", os.Interrupt, 300},
	} {
		for _, dialect := range dbtest.Dialects() {
			t.Run(c.name+"/"+dialect, func(t *testing.T) {
				testSignalUnderLoad(t, bin, dialect, c.sig, c.before)
			})
		}
	}
}

func testSignalUnderLoad(t *testing.T, bin, dialect string, sig os.Signal, before int64) {
	url := dbtest.URL(t, dialect)
	env := []string{"GRANTQL_LOG_LEVEL=warn", "GRANTQL_DECISION_LOG_VERBOSITY=1", "GRANTQL_DECISION_LOG_SAMPLE=1",
		"GRANTQL_DECISION_LOG_SPOOL=" + t.TempDir()}
	p := startServer(t, bin, url, env...)
	admin := p.Token()
	if admin == "" {
		t.Fatalf("serve printed no admin token; stdout: %q", p.Stdout())
	}

	// The prober holds projects.view_page in a project, and nothing else.
	var setup struct {
		CreateUser     struct{ ID string }
		CreateProject  struct{ ID string }
		CreateAPIToken struct{ Token string } `json:"createApiToken"`
	}
	p.MustPost(t, admin, `mutation { createUser(input: {username: "prober"}) { id } createProject(name: "probes") { id } }`, nil, &setup)
	user, project := setup.CreateUser.ID, setup.CreateProject.ID
	p.MustPost(t, admin, `mutation($p: ID!, $u: ID!) { grantProjectPerm(perm: "projects.view_page", project: $p, user: $u) { users { id } } }`,
		map[string]any{"p": project, "u": user}, nil)
	p.MustPost(t, admin, `mutation($u: ID!) { createApiToken(user: $u, name: "probe") { token } }`,
		map[string]any{"u": user}, &setup)
	token := setup.CreateAPIToken.Token

	var (
		next        atomic.Int64 // the next check's object id
		answered    atomic.Int64
		signaled    atomic.Bool
		wg          sync.WaitGroup
		mu          sync.Mutex
		answeredIDs []int64 // the checks that got a response
		refused     []string
		failures    []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for range signalWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				perm, wantAllowed, wantReason := signalProbeWant(i)
				sentAfterSignal := signaled.Load()
				res, err := p.Post(token, signalProbe, map[string]any{"p": project, "perm": perm, "id": strconv.FormatInt(i, 10)})
				var netErr net.Error
				if errors.Is(err, errTransport) && signaled.Load() && !(errors.As(err, &netErr) && netErr.Timeout()) {
					// Refused by the closed listener, or sent on a
					// keep-alive connection the stopping server closed
					// as idle before it read the request: never
					// accepted (the logs below prove it). This worker is
					// done.
					mu.Lock()
					refused = append(refused, fmt.Sprintf("check %d (sent after the signal: %v): %v", i, sentAfterSignal, err))
					mu.Unlock()
					return
				}
				if err != nil {
					fail("check %d (signal sent: %v): %v", i, signaled.Load(), err)
					return
				}
				mu.Lock()
				answeredIDs = append(answeredIDs, i)
				mu.Unlock()
				answered.Add(1)
				var out struct {
					Check struct {
						Allowed bool
						Reason  string
					}
				}
				if res.Status != 200 || len(res.Errors) > 0 || json.Unmarshal(res.Data, &out) != nil {
					fail("check %d (%s) = %v, want 200 and an answer", i, perm, res)
					continue
				}
				if out.Check.Allowed != wantAllowed || out.Check.Reason != wantReason {
					fail("check %d (%s) = %+v, want allowed %v, reason %s", i, perm, out.Check, wantAllowed, wantReason)
				}
			}
		}()
	}

	// Signal once enough checks are answered. A worker that fails stops:
	// with all of them stopped, or past a deadline, the server is broken
	// and the test ends.
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()
	deadline := time.After(2 * time.Minute)
wait:
	for answered.Load() < before {
		select {
		case <-workersDone:
			break wait
		case <-deadline:
			break wait
		case <-time.After(5 * time.Millisecond):
		}
	}
	answeredBefore := answered.Load()
	if answeredBefore < before {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d checks answered, want %d before the signal; failures: %v", answeredBefore, before, failures)
	}
	signaled.Store(true)
	p.Signal(sig)
	err := p.Wait()
	<-workersDone
	if err != nil {
		t.Errorf("after %v the server ended with %v, want exit status 0", sig, err)
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(failures)-10)
			break
		}
		t.Error(f)
	}

	// What the stopping server could not write it spilled (and said so,
	// at warn level); a second start stores it before it serves.
	spilled := 0
	if m := spilledRE.FindStringSubmatch(p.Stderr()); m != nil {
		spilled, _ = strconv.Atoi(m[1])
	}
	again := startServer(t, bin, url, env...)
	replayed := 0
	if m := replayedRE.FindStringSubmatch(again.Stderr()); m != nil {
		replayed, _ = strconv.Atoi(m[1])
	}
	if replayed != spilled {
		t.Errorf("the second start replayed %d logs from the spool, want the %d the first spilled; stderr:\n%s\n%s",
			replayed, spilled, p.Stderr(), again.Stderr())
	}

	db, err := models.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logged []string
	if err := db.Gorm.Raw(`SELECT object_id FROM decision_logs WHERE object_type = ? AND user_id = ?`, signalProbeType, user).
		Scan(&logged).Error; err != nil {
		t.Fatalf("read the probe logs: %v", err)
	}
	t.Logf("%v: %d checks answered before the signal, %d after it, %d unanswered (never accepted); %d logs spilled at shutdown and replayed; %d logs stored",
		sig, answeredBefore, int64(len(answeredIDs))-answeredBefore, len(refused), spilled, len(logged))
	for i, r := range refused {
		if i == 3 {
			t.Logf("... and %d more unanswered", len(refused)-3)
			break
		}
		t.Log("unanswered: ", r)
	}
	if diff := compareLogged(answeredIDs, logged); diff != "" {
		t.Errorf("decision logs after %v do not match the answered checks, want exactly one log per answered check: %s", sig, diff)
	}
	if stderr := p.Stderr() + again.Stderr(); strings.Contains(stderr, "decision logs lost") || strings.Contains(stderr, "flush decision logs") {
		t.Errorf("the server logged lost decision logs:\n%s", stderr)
	}
}

// compareLogged compares the object ids of the stored logs with the
// answered checks, and describes the difference: "" when every answered
// check has exactly one log and nothing else has one.
func compareLogged(answered []int64, logged []string) string {
	count := map[string]int{}
	for _, id := range logged {
		count[id]++
	}
	var missing, doubled, extra []string
	for _, i := range answered {
		id := strconv.FormatInt(i, 10)
		switch n := count[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s (%d times)", id, n))
		}
		delete(count, id)
	}
	for id := range count {
		extra = append(extra, id)
	}
	if len(missing)+len(doubled)+len(extra) == 0 {
		return ""
	}
	sort.Strings(extra)
	return fmt.Sprintf("%d answered, %d logs; missing for %s; doubled for %s; logged but never answered: %s",
		len(answered), len(logged), firstIDs(missing), firstIDs(doubled), firstIDs(extra))
}

// firstIDs lists the first few ids of a long list.
func firstIDs(ids []string) string {
	const show = 10
	if len(ids) == 0 {
		return "none"
	}
	if len(ids) > show {
		return fmt.Sprintf("%s and %d more", strings.Join(ids[:show], ", "), len(ids)-show)
	}
	return strings.Join(ids, ", ")
}

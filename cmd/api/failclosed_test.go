package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// dbProxy is a TCP proxy between a server and its database that a test can
// cut (every connection closed, new ones refused: the database is gone)
// and restore (the same address accepts and forwards again).
type dbProxy struct {
	t      *testing.T
	addr   string // where it listens
	target string // where it forwards

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startDBProxy listens on a free loopback port and forwards every
// connection to target, until the test ends.
func startDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *dbProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

// forward copies between c and a new connection to the target until
// either side closes or Cut closes both.
func (p *dbProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track records a forwarded pair so that Cut can close it; it closes the
// pair and returns false when the proxy was cut meanwhile.
func (p *dbProxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		up.Close()
		return false
	}
	p.conns[c], p.conns[up] = true, true
	return true
}

// Cut closes the listener, so that new connections are refused, and every
// forwarded connection.
func (p *dbProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Restore listens on the proxy's address again. The port was free a moment
// ago; should another process have taken it meanwhile, Restore retries
// for a few seconds before it fails the test.
func (p *dbProxy) Restore() {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("restore the database proxy on %s: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Bounds of the fail-closed test. cutNoticeTimeout is how long the server
// may keep answering from what it holds after the database went away
// before it says UNAVAILABLE: the cut closes its connections, so the first
// statement after it fails at once, and anything cached must stop being
// served as soon as its change feed drops. outageHold is how long the test
// keeps asking once the cut was noticed, so that an answer served from a
// cache or a half-dead connection would show. recoveryTimeout covers
// reconnect back-off in the pool and in a change feed.
const (
	cutNoticeTimeout = 5 * time.Second
	outageHold       = 2 * time.Second
	recoveryTimeout  = 30 * time.Second
)

// pageTitle is the title of the page the fail-closed test's guarded field
// reads: it must never appear in an answer during the outage.
const pageTitle = "fail-closed-secret"

// failClosedProbe is a request the viewer is allowed, and the data it
// answers while the database is up.
type failClosedProbe struct {
	name  string
	query string
	data  string
}

func failClosedProbes(project string) []failClosedProbe {
	return []failClosedProbe{
		{"hasProjectPerm", `{ hasProjectPerm(perm: "projects.view_page", project: "` + project + `") }`,
			`{"hasProjectPerm": true}`},
		{"hasPerm", `{ hasPerm(perm: "auth.view_user") }`,
			`{"hasPerm": true}`},
		{"check", `{ check(input: {perm: "projects.view_page", project: "` + project + `"}) { allowed } }`,
			`{"check": {"allowed": true}}`},
		{"check with an object", `{ check(input: {perm: "projects.view_page", project: "` + project + `", object: {type: "Doc", id: "1"}}) { allowed } }`,
			`{"check": {"allowed": true}}`},
		{"checkMany", `{ checkMany(inputs: [{perm: "projects.view_page", project: "` + project + `"}, {perm: "auth.view_user"}]) { allowed } }`,
			`{"checkMany": [{"allowed": true}, {"allowed": true}]}`},
		{"guarded fields", `{ project(id: "` + project + `") { viewerCan(perm: "projects.view_page") pages(first: 5) { edges { node { title } } } } }`,
			`{"project": {"viewerCan": true, "pages": {"edges": [{"node": {"title": "` + pageTitle + `"}}]}}}`},
	}
}

// healthy returns why res is not the probe's answer with the database up,
// or "".
func (pr failClosedProbe) healthy(res procResponse) string {
	if res.Status != http.StatusOK || len(res.Errors) > 0 || normalJSON(string(res.Data)) != normalJSON(pr.data) {
		return fmt.Sprintf("%s = %v, want 200 data=%s", pr.name, res, normalJSON(pr.data))
	}
	return ""
}

// closed returns why res is not a fail-closed answer, or "": one or more
// errors, all UNAVAILABLE, either for the whole request (503, from
// authentication) or for its fields (200); and no allowed answer and no
// guarded data, whatever the data holds.
func (pr failClosedProbe) closed(res procResponse) string {
	if len(res.Errors) == 0 || (res.Status != http.StatusOK && res.Status != http.StatusServiceUnavailable) {
		return fmt.Sprintf("%s = %v, want 200 or 503 with UNAVAILABLE errors", pr.name, res)
	}
	for _, e := range res.Errors {
		if e.Code() != "UNAVAILABLE" {
			return fmt.Sprintf("%s = %v, want every error UNAVAILABLE", pr.name, res)
		}
	}
	if data := string(res.Data); strings.Contains(data, "true") || strings.Contains(data, pageTitle) {
		return fmt.Sprintf("%s = %v, want no allowed answer and no guarded data while the database is gone", pr.name, res)
	}
	return ""
}

// normalJSON re-encodes a JSON document with sorted keys, so that two
// documents compare as strings; a document that is not JSON is returned
// as it is.
func normalJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestFailClosed cuts the database away from a running server and brings
// it back. The server binary talks to PostgreSQL through dbProxy; its
// viewer is allowed every probe of failClosedProbes, asked several times
// so that any cache is warm. Then the proxy is cut. Within
// cutNoticeTimeout a probe must answer UNAVAILABLE; from then on, for
// outageHold, every probe must fail closed (UNAVAILABLE, no allowed
// answer, no guarded data) and /readyz must answer 503; any failure before
// that must be UNAVAILABLE too. Then the proxy is restored, and within
// recoveryTimeout, with no restart, every probe must answer as before and
// /readyz 200.
func TestFailClosed(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			if dialect != models.Postgres {
				t.Skip("the database goes away only over a connection: SQLite is a file inside the server process, with no connection to cut")
			}
			testFailClosed(t)
		})
	}
}

func testFailClosed(t *testing.T) {
	bin := serverBinary(t)
	direct, err := url.Parse(dbtest.URL(t, models.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	target := direct.Host
	if direct.Port() == "" {
		target = net.JoinHostPort(direct.Hostname(), "5432")
	}
	proxy := startDBProxy(t, target)
	proxied := *direct
	proxied.Host = proxy.addr
	srv := startServer(t, bin, proxied.String(), "GRANTQL_LOG_LEVEL=warn")
	admin := srv.Token()
	if admin == "" {
		t.Fatalf("serve printed no admin token; stdout: %q", srv.Stdout())
	}

	// The viewer holds projects.view_project and projects.view_page in a
	// project that has a page, and auth.view_user globally; nothing else.
	var setup struct {
		CreateUser     struct{ ID string }
		CreateProject  struct{ ID string }
		CreateAPIToken struct{ Token string } `json:"createApiToken"`
	}
	srv.MustPost(t, admin, `mutation { createUser(input: {username: "viewer"}) { id } createProject(name: "outage") { id } }`, nil, &setup)
	user, project := setup.CreateUser.ID, setup.CreateProject.ID
	vars := map[string]any{"p": project, "u": user}
	srv.MustPost(t, admin, `mutation($p: ID!, $u: ID!) {
		view: grantProjectPerm(perm: "projects.view_project", project: $p, user: $u) { users { id } }
		read: grantProjectPerm(perm: "projects.view_page", project: $p, user: $u) { users { id } }
		grantPerm(perm: "auth.view_user", user: $u)
		createPage(input: {project: $p, title: "`+pageTitle+`"}) { id }
	}`, vars, nil)
	srv.MustPost(t, admin, `mutation($u: ID!) { createApiToken(user: $u, name: "viewer") { token } }`, map[string]any{"u": user}, &setup)
	token := setup.CreateAPIToken.Token
	probes := failClosedProbes(project)

	// ask sends every probe once and returns, for each, why its answer
	// is neither healthy nor closed ("" if it is one of them), and
	// whether it was healthy or closed.
	type answer struct {
		healthy, closed bool
		problem         string
	}
	ask := func() []answer {
		out := make([]answer, len(probes))
		for i, pr := range probes {
			res, err := srv.Post(token, pr.query, nil)
			if err != nil {
				out[i].problem = fmt.Sprintf("%s: %v", pr.name, err)
				continue
			}
			h, c := pr.healthy(res), pr.closed(res)
			out[i] = answer{healthy: h == "", closed: c == ""}
			if h != "" && c != "" {
				out[i].problem = c
			}
		}
		return out
	}
	readyz := func() int {
		status, _, err := srv.Get("/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		return status
	}

	t.Run("warm", func(t *testing.T) {
		for range 3 {
			for i, a := range ask() {
				if !a.healthy {
					t.Fatalf("before the cut: %s", probes[i].healthy(mustPostRaw(t, srv, token, probes[i].query)))
				}
			}
		}
		if s := readyz(); s != http.StatusOK {
			t.Fatalf("GET /readyz before the cut = %d, want 200", s)
		}
	})
	if t.Failed() {
		return
	}

	proxy.Cut()
	cut := time.Now()
	var noticed time.Duration
	t.Run("cut", func(t *testing.T) {
		// Until the server notices, an answer may still come from what it
		// holds; a failure must already be UNAVAILABLE.
		for noticed == 0 {
			for _, a := range ask() {
				if a.problem != "" {
					t.Errorf("after the cut, before it was noticed: %s", a.problem)
				}
				if a.closed && noticed == 0 {
					noticed = time.Since(cut)
				}
			}
			if noticed == 0 && time.Since(cut) > cutNoticeTimeout {
				t.Fatalf("no probe failed within %v of the cut, want UNAVAILABLE", cutNoticeTimeout)
			}
		}
		t.Logf("first UNAVAILABLE %v after the cut", noticed.Round(time.Millisecond))
		// From now on nothing may be allowed until the database is back.
		rounds := 0
		for start := time.Now(); time.Since(start) < outageHold || rounds < 3; rounds++ {
			for i, a := range ask() {
				if !a.closed {
					t.Errorf("during the outage, round %d: %s", rounds, orProblem(a.problem, probes[i].name+" was answered as if the database were up"))
				}
			}
			if s := readyz(); s != http.StatusServiceUnavailable {
				t.Errorf("GET /readyz during the outage, round %d = %d, want 503", rounds, s)
			}
		}
		t.Logf("%d rounds of %d probes during the outage, all closed", rounds, len(probes))
	})

	proxy.Restore()
	restored := time.Now()
	t.Run("restored", func(t *testing.T) {
		for {
			all := true
			for _, a := range ask() {
				if a.problem != "" {
					t.Errorf("while recovering: %s", a.problem)
				}
				all = all && a.healthy
			}
			if all && readyz() == http.StatusOK {
				break
			}
			if time.Since(restored) > recoveryTimeout {
				for _, pr := range probes {
					if h := pr.healthy(mustPostRaw(t, srv, token, pr.query)); h != "" {
						t.Error(h)
					}
				}
				t.Fatalf("not recovered %v after the database came back; GET /readyz = %d", recoveryTimeout, readyz())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("recovered %v after the database came back, without a restart", time.Since(restored).Round(time.Millisecond))
		for range 3 {
			for i, a := range ask() {
				if !a.healthy {
					t.Errorf("after recovery: %s", probes[i].healthy(mustPostRaw(t, srv, token, probes[i].query)))
				}
			}
		}
	})
	select {
	case <-srv.Exited():
		t.Errorf("the server exited during the test: %v", srv.Wait())
	default:
	}
}

// mustPostRaw sends query and returns the response, failing the test if
// none came.
func mustPostRaw(t *testing.T, srv *serverProc, token, query string) procResponse {
	t.Helper()
	res, err := srv.Post(token, query, nil)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

func orProblem(problem, otherwise string) string {
	if problem != "" {
		return problem
	}
	return otherwise
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/grantql/grantql/internal/buildtest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file runs grantql as the real binary, in processes of its own, for
// tests that need what only a process has: signals, an exit status, a
// database shared by several instances. serverBinary builds the binary
// once per test binary; startServer starts it and returns a serverProc to
// talk to it, signal it and wait for it.
//
// A test with two instances on one PostgreSQL database:
//
//	bin := serverBinary(t)
//	url := dbtest.URL(t, models.Postgres)
//	a := startServer(t, bin, url)
//	b := startServer(t, bin, url) // the database has users: b.Token() is ""
//	res, err := b.Post(a.Token(), `{ viewer { username } }`, nil)

// TestMain runs the tests, then removes the binary serverBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	buildtest.Cleanup()
	os.Exit(code)
}

// serverBinary returns the path of the grantql binary, built on the first
// call (with the race detector when the tests have it, so that the
// processes are checked too) and shared by every test of the test binary.
func serverBinary(t *testing.T) string {
	t.Helper()
	return buildtest.Binary(t, "github.com/grantql/grantql/cmd/api", raceEnabled)
}

// Bounds of a server process's life in tests. serverReadyTimeout covers
// migrating a fresh PostgreSQL database under the race detector on a busy
// machine (seconds at worst); serverStopTimeout is the binary's own
// default shutdown timeout and a margin.
const (
	serverReadyTimeout = 60 * time.Second
	serverStopTimeout  = defaultShutdownTimeout + 10*time.Second
)

// serverProc is a grantql server running as a process of its own.
type serverProc struct {
	t          *testing.T
	cmd        *exec.Cmd
	addr       string
	token      string
	stdoutPath string
	stderrPath string
	client     *http.Client

	exited   chan struct{} // closed when the process has exited
	err      error         // cmd.Wait's, once exited is closed
	stopOnce sync.Once
}

// startServer starts bin as `serve --addr 127.0.0.1:PORT --database-url
// databaseURL`, on a free loopback port, with env ("NAME=value", for the
// other settings: GRANTQL_DECISION_LOG_VERBOSITY=2, GRANTQL_MIGRATE=false,
// ...) added to an environment cleared of GRANTQL_* and DATABASE_URL. It
// returns once /readyz answers 200, and fails the test if the process
// exits or is not ready within serverReadyTimeout. Standard output and
// error go to files, read with Stdout and Stderr; on its first start
// against an empty database the server prints the superuser admin's token,
// which Token returns. The process is killed at the end of the test if it
// is still running, and its standard error is logged if the test failed.
func startServer(t *testing.T, bin, databaseURL string, env ...string) *serverProc {
	t.Helper()
	// Another process may take the free port between freeAddr closing it
	// and the server listening on it: then the server exits at once, and
	// another port is tried.
	const attempts = 3
	for i := 1; ; i++ {
		p, err := tryStartServer(t, bin, databaseURL, env)
		if err == nil {
			return p
		}
		if i == attempts || !strings.Contains(p.Stderr(), "address already in use") {
			t.Fatalf("start the server: %v\nstderr:\n%s", err, p.Stderr())
		}
	}
}

func tryStartServer(t *testing.T, bin, databaseURL string, env []string) (*serverProc, error) {
	t.Helper()
	dir := t.TempDir()
	p := &serverProc{
		t:          t,
		addr:       freeAddr(t),
		stdoutPath: filepath.Join(dir, "stdout"),
		stderrPath: filepath.Join(dir, "stderr"),
		exited:     make(chan struct{}),
		client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
			Timeout:   30 * time.Second,
		},
	}
	// Files, not pipes: the server writes the admin's token before it
	// serves, so once /readyz answers the token is in the file.
	stdout, err := os.Create(p.stdoutPath)
	if err != nil {
		return p, err
	}
	defer stdout.Close()
	stderr, err := os.Create(p.stderrPath)
	if err != nil {
		return p, err
	}
	defer stderr.Close()
	p.cmd = exec.Command(bin, "serve", "--addr", p.addr, "--database-url", databaseURL)
	p.cmd.Env = append(serverEnviron(), env...)
	// In a folder of its own, so that what the server keeps in its
	// working directory (the decision log spool, on PostgreSQL) never
	// lands in the source tree.
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		return p, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	if err := p.waitReady(); err != nil {
		p.stop()
		return p, err
	}
	p.token = parseAdminToken(p.Stdout())
	return p, nil
}

// serverEnviron returns the test's environment without the variables that
// configure grantql, so that a developer's settings do not leak into the
// servers tests start.
func serverEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GRANTQL_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// parseAdminToken returns the token in ensureFirstAdmin's message, or ""
// when there is none (the database had users already).
func parseAdminToken(stdout string) string {
	_, rest, ok := strings.Cut(stdout, "Its API token is shown only now:")
	if !ok {
		return ""
	}
	if f := strings.Fields(rest); len(f) > 0 {
		return f[0]
	}
	return ""
}

func (p *serverProc) waitReady() error {
	deadline := time.Now().Add(serverReadyTimeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("the server exited before it was ready: %v", p.err)
		default:
		}
		if status, _, err := p.Get("/readyz"); err == nil && status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server was not ready after %v", serverReadyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the process if it is still running and waits for it; it is
// the test's cleanup.
func (p *serverProc) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		p.client.CloseIdleConnections()
		if p.t.Failed() {
			p.t.Logf("server %s stderr:\n%s", p.addr, p.Stderr())
		}
	})
}

// URL returns the server's base URL, http://127.0.0.1:PORT.
func (p *serverProc) URL() string { return "http://" + p.addr }

// Addr returns the address the server listens on, 127.0.0.1:PORT.
func (p *serverProc) Addr() string { return p.addr }

// Token returns the superuser admin's API token, printed on the first start
// against an empty database; it is "" when the database had users already
// (the second instance on a shared database, say).
func (p *serverProc) Token() string { return p.token }

// Stdout returns what the process has written on standard output so far.
func (p *serverProc) Stdout() string { return readFile(p.stdoutPath) }

// Stderr returns what the process has written on standard error so far:
// its log.
func (p *serverProc) Stderr() string { return readFile(p.stderrPath) }

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// Signal sends sig to the process. Like Wait, it is for the test's own
// goroutine.
func (p *serverProc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to the server: %v", sig, err)
	}
}

// Exited returns a channel closed when the process has exited.
func (p *serverProc) Exited() <-chan struct{} { return p.exited }

// Wait waits at most serverStopTimeout for the process to exit and returns
// how it ended: nil for exit status 0, an *exec.ExitError otherwise. It
// fails the test if the process is still running then.
func (p *serverProc) Wait() error {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(serverStopTimeout):
		p.t.Fatalf("the server did not exit within %v", serverStopTimeout)
		return nil
	}
}

// Get sends a GET for path (/readyz, /healthz) and returns the status and
// the body.
func (p *serverProc) Get(path string) (status int, body string, err error) {
	res, err := p.client.Get(p.URL() + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// procResponse is a GraphQL response with its HTTP status.
type procResponse struct {
	Status int
	Data   json.RawMessage
	Errors []procGQLError
}

// procGQLError is one error of a GraphQL response.
type procGQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns the error's extensions.code.
func (e procGQLError) Code() string { c, _ := e.Extensions["code"].(string); return c }

func (r procResponse) String() string {
	errs, _ := json.Marshal(r.Errors)
	return fmt.Sprintf("%d data=%s errors=%s", r.Status, r.Data, errs)
}

// errTransport marks a request that got no HTTP response: refused, reset
// or closed before an answer, or timed out. Post wraps the cause too, for
// errors.Is and errors.As.
var errTransport = errors.New("no response")

// Post sends query with vars to /graphql, with `Authorization: Bearer
// token` unless token is "", and returns the response whatever its status.
// The error is for a request that got no response (it wraps errTransport)
// or a body that is not a GraphQL response. It is safe for concurrent use.
func (p *serverProc) Post(token, query string, vars map[string]any) (procResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return procResponse{}, err
	}
	req, err := http.NewRequest(http.MethodPost, p.URL()+"/graphql", bytes.NewReader(body))
	if err != nil {
		return procResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return procResponse{}, fmt.Errorf("%w: %w", errTransport, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return procResponse{Status: res.StatusCode}, fmt.Errorf("%w: status %d, reading the body: %w", errTransport, res.StatusCode, err)
	}
	out := procResponse{Status: res.StatusCode}
	var doc struct {
		Data   json.RawMessage `json:"data"`
		Errors []procGQLError  `json:"errors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return out, fmt.Errorf("status %d: the body %q is not a GraphQL response: %v", res.StatusCode, raw, err)
	}
	out.Data, out.Errors = doc.Data, doc.Errors
	if out.Data == nil {
		out.Data = json.RawMessage("null")
	}
	return out, nil
}

// MustPost sends query as Post does and decodes its data into out (when
// not nil), failing the test unless the answer is 200 without errors.
func (p *serverProc) MustPost(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	res, err := p.Post(token, query, vars)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if res.Status != http.StatusOK || len(res.Errors) > 0 {
		t.Fatalf("%s = %v, want 200 and no errors", query, res)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("%s: decode %s: %v", query, res.Data, err)
		}
	}
}

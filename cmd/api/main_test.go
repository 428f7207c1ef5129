package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inProcess is the serve command running in the test's own process, on a
// free loopback address.
type inProcess struct {
	addr           string
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan error
	stopOnce       sync.Once
	stopErr        error
}

// serveInProcess runs `serve --addr ADDR --decision-log-spool TMP args...` in the test's process,
// waits until it answers /readyz, and stops it when the test ends, failing
// the test if serve then returns an error.
func serveInProcess(t *testing.T, args ...string) *inProcess {
	t.Helper()
	// A spool of its own, so that nothing is ever spilled into the
	// source tree (the working directory); args may name another.
	spool := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcess{addr: freeAddr(t), cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"serve", "--addr", s.addr, "--decision-log-spool", spool}, args...), &s.stdout, &s.stderr)
	}()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve returned %v after shutdown, want nil", err)
		}
	})
	waitReady(t, s.addr, &s.stderr)
	return s
}

// stop ends serve and returns what serve returned; only the first call
// returns it, later calls nil.
func (s *inProcess) stop() error {
	err := error(nil)
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(60 * time.Second):
			s.stopErr = errors.New("serve did not stop within 60s")
		}
		err = s.stopErr
	})
	return err
}

// adminToken returns the admin token the first start printed, or "".
func (s *inProcess) adminToken() string { return parseAdminToken(s.stdout.String()) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func viewerName(t *testing.T, addr, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql",
		strings.NewReader(`{"query":"{ viewer { username } }"}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			Viewer *struct{ Username string }
		}
	}
	json.NewDecoder(res.Body).Decode(&out)
	if out.Data.Viewer == nil {
		return res.StatusCode, ""
	}
	return res.StatusCode, out.Data.Viewer.Username
}

// TestServeFirstStart runs the real serve command against an empty
// database: it migrates, prints the admin's token once, serves, answers
// viewer for that token, and stops cleanly when its context ends.
func TestServeFirstStart(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			url := dbtest.URL(t, dialect)
			srv := serveInProcess(t, "--database-url", url, "--log-level", "warn")
			addr, token := srv.addr, srv.adminToken()
			if token == "" {
				t.Fatalf("serve printed no token; stdout: %q", srv.stdout.String())
			}
			if status, name := viewerName(t, addr, token); status != http.StatusOK || name != "admin" {
				t.Errorf("viewer with the printed token = %d %q, want 200 \"admin\"", status, name)
			}
			if status, name := viewerName(t, addr, ""); status != http.StatusOK || name != "" {
				t.Errorf("viewer without a token = %d %q, want 200 and null", status, name)
			}
			if want := wantPool(dialect); !strings.Contains(getMetrics(t, addr), want) {
				t.Errorf("GET /metrics without %s, the default pool", want)
			}
			if err := srv.stop(); err != nil {
				t.Errorf("serve returned %v after shutdown, want nil", err)
			}

			// A second start finds users and prints no token.
			second := serveInProcess(t, "--database-url", url, "--log-level", "warn")
			if err := second.stop(); err != nil {
				t.Errorf("second serve returned %v, want nil", err)
			}
			if strings.Contains(second.stdout.String(), authz.TokenPrefix) {
				t.Errorf("second start printed a token: %q", second.stdout.String())
			}
		})
	}
}

func TestCreateSuperuser(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			url := dbtest.URL(t, dialect)
			ctx := context.Background()
			var stdout, stderr bytes.Buffer
			if err := run(ctx, []string{"createsuperuser", "--username", "ops", "--database-url", url}, &stdout, &stderr); err != nil {
				t.Fatalf("createsuperuser: %v (stderr %s)", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			token := lines[len(lines)-1]
			if !strings.HasPrefix(token, "gq_") || strings.ContainsAny(token, " \t") {
				t.Fatalf("last line of createsuperuser = %q, want the token alone", token)
			}
			err := run(ctx, []string{"createsuperuser", "--username", "ops", "--database-url", url}, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), `"ops" is taken`) {
				t.Errorf("createsuperuser with a taken name = %v, want an error saying the name is taken", err)
			}
			if err := run(ctx, []string{"createsuperuser", "--database-url", url}, &stdout, &stderr); err == nil {
				t.Error("createsuperuser without --username succeeded, want an error")
			}

			// The token works against a server on the same database.
			addr := freeAddr(t)
			sctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- run(sctx, []string{"--addr", addr, "--database-url", url, "--log-level", "error"}, &syncBuffer{}, &syncBuffer{})
			}()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(20 * time.Second)
			for {
				if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
					res.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("server not up after 20s")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if status, name := viewerName(t, addr, token); status != http.StatusOK || name != "ops" {
				t.Errorf("viewer with createsuperuser's token = %d %q, want 200 \"ops\"", status, name)
			}
		})
	}
}

func TestMigrateCommand(t *testing.T) {
	url := dbtest.URL(t, "sqlite")
	ctx := context.Background()
	var out, errOut bytes.Buffer
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--database-url", url, "status"}, "00001  pending"},
		{[]string{"migrate", "--database-url", url, "up"}, "applied 8 migrations"},
		{[]string{"migrate", "--database-url", url, "status"}, "00009  applied"},
		// SQLite has no 00007 (migrations/sqlite/00008 says why).
		{[]string{"migrate", "--database-url", url, "down"}, "now at version 8"},
		{[]string{"migrate", "--database-url", url, "up"}, "applied 1 migrations"},
	}
	for _, s := range steps {
		out.Reset()
		if err := run(ctx, s.args, &out, &errOut); err != nil {
			t.Fatalf("run(%v): %v", s.args, err)
		}
		if !strings.Contains(out.String(), s.want) {
			t.Errorf("run(%v) printed %q, want it to contain %q", s.args, out.String(), s.want)
		}
	}
	if err := run(ctx, []string{"migrate", "--database-url", url, "sideways"}, &out, &errOut); err == nil {
		t.Error("migrate sideways succeeded, want an error")
	}
	if err := run(ctx, []string{"nonsense"}, &out, &errOut); err == nil {
		t.Error("unknown command succeeded, want an error")
	}
	out.Reset()
	if err := run(ctx, []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "grantql ") {
		t.Errorf("version = %q, %v, want grantql <version>", out.String(), err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", addr, "--database-url", url, "--log-level", "warn"}, &stdout, &stderr)
			}()
			deadline := time.Now().Add(20 * time.Second)
			for {
				if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
					res.Body.Close()
					if res.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("server not ready after 20s; stderr: %s", stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			var token string
			for _, f := range strings.Fields(stdout.String()) {
				if strings.HasPrefix(f, "gq_") {
					token = f
					break
				}
			}
			if token == "" {
				t.Fatalf("serve printed no token; stdout: %q", stdout.String())
			}
			if status, name := viewerName(t, addr, token); status != http.StatusOK || name != "admin" {
				t.Errorf("viewer with the printed token = %d %q, want 200 \"admin\"", status, name)
			}
			if status, name := viewerName(t, addr, ""); status != http.StatusOK || name != "" {
				t.Errorf("viewer without a token = %d %q, want 200 and null", status, name)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v after shutdown, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop within 30s")
			}

			// A second start finds users and prints no token.
			var stdout2 syncBuffer
			ctx2, cancel2 := context.WithCancel(context.Background())
			go func() {
				done <- run(ctx2, []string{"serve", "--addr", freeAddr(t), "--database-url", url, "--log-level", "warn"}, &stdout2, &stderr)
			}()
			time.Sleep(300 * time.Millisecond)
			cancel2()
			if err := <-done; err != nil {
				t.Errorf("second serve returned %v, want nil", err)
			}
			if strings.Contains(stdout2.String(), "gq_") {
				t.Errorf("second start printed a token: %q", stdout2.String())
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
		{[]string{"migrate", "--database-url", url, "up"}, "applied 6 migrations"},
		{[]string{"migrate", "--database-url", url, "status"}, "00006  applied"},
		{[]string{"migrate", "--database-url", url, "down"}, "now at version 5"},
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

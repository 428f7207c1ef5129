package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/grantql/grantql/models"
)

// benchDatabase is the database of one run: a PostgreSQL database created
// for it, or an SQLite file in the run's folder.
type benchDatabase struct {
	url     string
	dialect string
	// drop removes the database; nil for SQLite, whose file goes with
	// the run's folder.
	drop func(context.Context) error
}

// newDatabase creates the run's database. base "sqlite" means an SQLite
// file in dir; a postgres:// URL names a server on which a database
// grantql_bench_<random> is created, as internal/dbtest does for tests.
func newDatabase(ctx context.Context, base, dir string) (*benchDatabase, error) {
	if base == "sqlite" {
		return &benchDatabase{url: filepath.Join(dir, "grantql.db"), dialect: models.SQLite}, nil
	}
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return nil, fmt.Errorf("-database-url %q: want a postgres:// URL or \"sqlite\"", base)
	}
	admin, err := models.Open(base)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := admin.Ping(pctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("PostgreSQL at %s is unreachable: %w", redact(base), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "grantql_bench_" + hex.EncodeToString(b)
	if _, err := admin.SQL().ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return nil, err
	}
	u.Path = "/" + name
	return &benchDatabase{url: u.String(), dialect: models.Postgres, drop: func(ctx context.Context) error {
		defer admin.Close()
		if _, err := admin.SQL().ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}}, nil
}

// redact hides a URL's password.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the given URL"
	}
	return u.Redacted()
}

// loopbackHost checks that host is a loopback address (or localhost, which
// must resolve to loopback addresses only): the load generator drives a
// server on this machine and nothing else.
func loopbackHost(host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address: the load generator targets only this machine", host)
		}
		return nil
	}
	if host != "localhost" {
		return fmt.Errorf("%q is not a loopback address: the load generator targets only this machine", host)
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("resolve localhost: %v", err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("localhost resolves to %s, which is not a loopback address", ip)
		}
	}
	return nil
}

// freePort returns an address on host with a port nobody listens on.
func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// serverEnv is the environment of the server's commands: this process's,
// without the server's own settings (GRANTQL_*, DATABASE_URL), so that the
// run depends only on its flags, plus extra.
func serverEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GRANTQL_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// prefixWriter writes each line with a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil {
			p.buf.Write(line) // no newline yet: keep it for later
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s", p.prefix, line)
	}
}

// runSeed runs `server seed` with the dataset flags, its output shown
// line by line.
func runSeed(ctx context.Context, o *options, dbURL, workloadPath string, stdout io.Writer) error {
	args := []string{"seed", "--database-url", dbURL, "--workload", workloadPath}
	args = append(args, o.dataset.args()...)
	cmd := exec.CommandContext(ctx, o.server, args...)
	cmd.Env = serverEnv(nil)
	out := &prefixWriter{w: stdout, prefix: "seed: "}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s seed: %w", o.server, err)
	}
	return nil
}

// serverProcess is a running `server serve`.
type serverProcess struct {
	cmd     *exec.Cmd
	addr    string // host:port
	logPath string
	done    chan struct{}
	err     error // why it exited, once done is closed
}

// readyTimeout bounds the wait for /readyz: a server that migrates and
// loads its registry is ready in a second; a minute is room for a loaded
// machine.
const readyTimeout = time.Minute

// stopTimeout is how long a server may take to stop after SIGTERM: its
// own grace period (20 s) and decision-log flush (20 s), with room.
const stopTimeout = 90 * time.Second

// startServer starts `server serve` on addr with env, its output in
// logPath, and waits until /readyz answers 200.
func startServer(ctx context.Context, server, addr, dbURL, logPath string, env []string) (*serverProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(server, "serve", "--addr", addr, "--database-url", dbURL)
	cmd.Env = serverEnv(env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s serve: %w", server, err)
	}
	p := &serverProcess{cmd: cmd, addr: addr, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the server exited before it was ready (%v):\n%s", p.err, p.logTail(20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if res, err := client.Get(p.base() + "/readyz"); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the server was not ready after %s:\n%s", readyTimeout, p.logTail(20))
		}
	}
}

func (p *serverProcess) pid() int { return p.cmd.Process.Pid }

// base is the server's URL: http://host:port.
func (p *serverProcess) base() string { return "http://" + p.addr }

// stop sends SIGTERM and waits for the server to exit, killing it after
// stopTimeout. It returns how the server exited: nil for a clean stop.
func (p *serverProcess) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("the server did not stop within %s of SIGTERM and was killed", stopTimeout)
	}
}

// logTail returns the last n lines of the server's output.
func (p *serverProcess) logTail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

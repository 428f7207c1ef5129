package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnKeepsAlive sends requests one after the other on one
// connection, with their headers and bodies, and reads the answers.
func TestConnKeepsAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != graphqlPath || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(r.Header.Get("Authorization") + " " + r.Header.Get("X-Request-Id") + " " + string(body)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	k := &conn{addr: srv.Listener.Addr().String()}
	defer k.close()
	var buf bytes.Buffer
	for i, want := range []string{"Bearer a r1 {}", "Bearer b r2 {\"x\":1}", "Bearer c r3 {}"} {
		f := strings.Fields(want)
		res, err := k.post(context.Background(), []byte(f[3]), &buf, "Authorization", f[0]+" "+f[1], "X-Request-Id", f[2])
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if res.status != http.StatusTeapot || string(res.body) != want {
			t.Errorf("request %d: %d %q, want %d %q", i, res.status, res.body, http.StatusTeapot, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// answerOnce listens on loopback and, on each connection, answers as many
// requests as each tells it (0: none), then closes the connection without
// saying so. It returns the address and a count of connections.
func answerOnce(t *testing.T, answers int) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			br := bufio.NewReader(c)
			for range answers {
				r, err := http.ReadRequest(br)
				if err != nil {
					break
				}
				io.Copy(io.Discard, r.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
			c.Close()
		}
	}()
	return ln.Addr().String(), &conns
}

// TestConnRedials sends each request again on a new connection when the
// server closed the one it had answered on, as an idle connection may be;
// a new connection that answers nothing is an error, not a retry.
func TestConnRedials(t *testing.T) {
	addr, conns := answerOnce(t, 1)
	k := &conn{addr: addr}
	defer k.close()
	var buf bytes.Buffer
	for i := range 3 {
		res, err := k.post(context.Background(), []byte("{}"), &buf)
		if err != nil || res.status != http.StatusOK || string(res.body) != "ok" {
			t.Fatalf("request %d: %+v, %v; want 200 ok", i, res, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}

	addr, conns = answerOnce(t, 0)
	k2 := &conn{addr: addr}
	defer k2.close()
	if _, err := k2.post(context.Background(), []byte("{}"), &buf); err == nil {
		t.Error("a connection closed before any answer gave no error")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (no retry on a new connection)", n)
	}
}

// TestConnCancel ends a request the server does not answer when the
// context ends.
func TestConnCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	k := &conn{addr: srv.Listener.Addr().String()}
	defer k.close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var buf bytes.Buffer
	if _, err := k.post(ctx, []byte("{}"), &buf); err == nil {
		t.Fatal("a request cut short by its context gave no error")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the request ended %v after it began, want soon after its context's 100ms", d)
	}
}

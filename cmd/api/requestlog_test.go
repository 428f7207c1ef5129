package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/internal/dbtest"
)

// TestRequestLogKeys: in either log format, every line serve logs for a
// request holds each key once: request_id in particular, which the
// request's handler and serve's own log handlers could each add.
func TestRequestLogKeys(t *testing.T) {
	for _, c := range []struct {
		format string
		keys   func(line string) ([]string, error)
	}{
		{"json", jsonKeys},
		{"text", textKeys},
	} {
		for _, dialect := range dbtest.Dialects() {
			t.Run(c.format+"/"+dialect, func(t *testing.T) {
				srv := serveInProcess(t, "--database-url", dbtest.URL(t, dialect), "--log-format", c.format)
				id := "once-" + c.format
				req, _ := http.NewRequest(http.MethodPost, "http://"+srv.addr+"/graphql", strings.NewReader(`{"query":"query Me { viewer { username } }"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+srv.adminToken())
				req.Header.Set("X-Request-Id", id)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()

				var lines []string
				for deadline := time.Now().Add(5 * time.Second); lines == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					for _, l := range strings.Split(srv.stderr.String(), "\n") {
						if strings.Contains(l, id) {
							lines = append(lines, l)
						}
					}
				}
				if lines == nil {
					t.Fatalf("no log line holds the request id %s; the log:\n%s", id, srv.stderr.String())
				}
				for _, l := range lines {
					keys, err := c.keys(l)
					if err != nil {
						t.Fatalf("parse %q: %v", l, err)
					}
					seen := map[string]int{}
					for _, k := range keys {
						seen[k]++
					}
					for k, n := range seen {
						if n != 1 {
							t.Errorf("log line %s holds %s %d times, want once", l, k, n)
						}
					}
					if seen["request_id"] != 1 || seen["status"] != 1 {
						t.Errorf("log line %s: keys %v, want request_id and status", l, keys)
					}
				}
			})
		}
	}
}

// jsonKeys returns the keys of a JSON log line's object, in order, with
// repeats (which decoding into a map would hide).
func jsonKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// textKeys returns the keys of a text log line (key=value pairs, a value
// quoted when it holds spaces), in order, with repeats.
func textKeys(line string) ([]string, error) {
	var keys []string
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("no key=value at %q", s)
		}
		keys = append(keys, s[:eq])
		s = s[eq+1:]
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, err
			}
			s = s[len(q):]
			continue
		}
		if sp := strings.IndexByte(s, ' '); sp >= 0 {
			s = s[sp:]
		} else {
			s = ""
		}
	}
	return keys, nil
}

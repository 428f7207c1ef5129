package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grantql/grantql/internal/dbtest"
)

// This file holds the examples of README.md and docs/*.md to what the
// server answers, so that a reader who follows a document from its first
// example to its last, on a fresh database, gets what it shows.
//
// TestDocsExamples reads the fenced code blocks of each document and runs
// the runnable ones in order, per document, against the real serve command
// on a fresh database (SQLite, and PostgreSQL when TEST_DATABASE_URL is
// set). The info string of a block (the words after the opening ```) says
// what it is:
//
//	```graphql          an operation, POSTed to /graphql with the token of
//	                    the superuser admin that the first start prints
//	```graphql as=NAME  the same, with the newest API token the document
//	                    has minted for the user NAME (a createApiToken
//	                    answer); the text around the block says whose it is
//	```graphql schema   schema text (SDL) or a fragment of a query, not run
//	```graphql norun    an operation shown but not meant to be sent as
//	                    written on a fresh server; the text says why
//	```json             the response of the runnable example just before
//	                    it, compared with what the server answers; a json
//	                    block anywhere else is an error
//	```json status=N    the same, answered with HTTP status N (200 when
//	                    the info string gives none)
//	```json output      any other JSON, not run
//	```sh               each `curl … /graphql` command in it is sent (its
//	                    -H and -d as written, $TOKEN as admin's token,
//	                    http://127.0.0.1:8080 as the test's server); a
//	                    comment line `# {…}` after the command is its
//	                    expected response, and `# HTTP N` its status (200
//	                    unless given: the value of -w must be such a
//	                    status line); other commands are not run
//
// Every other block (```go, ``` with no info string, …) is not run. Every
// example must answer the HTTP status its document gives (200 unless it
// gives one). An example without an expected response must answer without
// errors; one with an expected response must answer exactly it, errors
// included (codes, messages, paths), where a string holding "…" matches
// any string with the text before "…" as its prefix and the text after as
// its suffix ("gq_…" for a token), and an array whose last element is
// {"…": …} matches any array that starts with the elements before it.
//
// TestDocsCiteNoOutsideDocument keeps references to documents outside the
// repository out of the docs, the schema's descriptions and the code.

// docFiles returns the documents whose examples are run: README.md and
// every docs/*.md, relative to the repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(docs)
	return append([]string{filepath.Join(repoRoot, "README.md")}, docs...)
}

// repoRoot is the repository's root, seen from cmd/api, where go test runs.
const repoRoot = "../.."

// docBlock is one fenced code block of a Markdown document.
type docBlock struct {
	line int      // the line of its opening fence, from 1
	info []string // the words of its info string: "graphql", "as=bob"
	text string
}

// lang returns the first word of the block's info string.
func (b docBlock) lang() string {
	if len(b.info) == 0 {
		return ""
	}
	return b.info[0]
}

// has reports whether the info string holds word after the language.
func (b docBlock) has(word string) bool { return len(b.info) > 1 && slices.Contains(b.info[1:], word) }

// attr returns the value of key=value in the info string, or "".
func (b docBlock) attr(key string) string {
	for _, w := range b.info[min(1, len(b.info)):] {
		if v, ok := strings.CutPrefix(w, key+"="); ok {
			return v
		}
	}
	return ""
}

var fenceRE = regexp.MustCompile("^\\s*(```+|~~~+)\\s*(.*)$")

// parseBlocks returns the fenced code blocks of a Markdown document.
func parseBlocks(src string) ([]docBlock, error) {
	var (
		blocks []docBlock
		cur    *docBlock
		fence  string
		body   strings.Builder
	)
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		m := fenceRE.FindStringSubmatch(line)
		switch {
		case cur == nil && m != nil:
			cur, fence = &docBlock{line: n, info: strings.Fields(m[2])}, m[1]
			body.Reset()
		case cur != nil && m != nil && m[2] == "" && strings.HasPrefix(m[1], fence):
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the block is never closed", cur.line)
	}
	return blocks, sc.Err()
}

// docRequest is one runnable example: an HTTP request to /graphql and,
// when the document shows it, the response expected.
type docRequest struct {
	line     int    // where the example starts in its document
	as       string // the user whose token it runs with; "" for the token as written
	method   string
	path     string
	header   http.Header
	body     string
	expected string // JSON; "" when the document shows none
	status   int    // the HTTP status expected; 0 for 200
}

// docExamples turns a document's blocks into the requests they show, in
// order, following the conventions at the top of this file.
func docExamples(blocks []docBlock) ([]docRequest, error) {
	var reqs []docRequest
	lastRunnable := -1 // index in blocks of the previous block, when it was runnable and has no response yet
	for i, b := range blocks {
		switch {
		case b.lang() == "graphql" && !b.has("schema") && !b.has("norun"):
			body, err := json.Marshal(map[string]string{"query": b.text})
			if err != nil {
				return nil, err
			}
			as := b.attr("as")
			if as == "" {
				as = "admin"
			}
			reqs = append(reqs, docRequest{line: b.line, as: as, method: http.MethodPost, path: "/graphql",
				header: http.Header{"Content-Type": {"application/json"}}, body: string(body)})
			lastRunnable = i
		case b.lang() == "sh":
			curls, err := shellCurls(b)
			if err != nil {
				return nil, err
			}
			reqs = append(reqs, curls...)
			lastRunnable = -1
		case b.lang() == "json" && !b.has("output"):
			if lastRunnable != i-1 || lastRunnable < 0 {
				return nil, fmt.Errorf("line %d: a json block follows no runnable example; mark it ```json output if it is not a response", b.line)
			}
			reqs[len(reqs)-1].expected = b.text
			if st := b.attr("status"); st != "" {
				if _, err := fmt.Sscan(st, &reqs[len(reqs)-1].status); err != nil {
					return nil, fmt.Errorf("line %d: status=%q: %v", b.line, st, err)
				}
			}
			lastRunnable = -1
		default:
			lastRunnable = -1
		}
	}
	return reqs, nil
}

// shellCurls returns the curl commands of a sh block that POST to /graphql,
// each with the response shown in the `# {…}` comment lines after it.
func shellCurls(b docBlock) ([]docRequest, error) {
	var (
		reqs    []docRequest
		logical strings.Builder
		start   int
	)
	lines := strings.Split(b.text, "\n")
	for i, line := range lines {
		n := b.line + 1 + i
		if logical.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			logical.WriteString(cont)
			continue
		}
		logical.WriteString(line)
		cmd := strings.TrimSpace(logical.String())
		logical.Reset()
		if resp, ok := strings.CutPrefix(cmd, "# "); ok && len(reqs) > 0 && (strings.HasPrefix(resp, "{") || strings.HasPrefix(resp, "[")) {
			reqs[len(reqs)-1].expected += resp + "\n"
			continue
		}
		if st, ok := strings.CutPrefix(cmd, "# HTTP "); ok && len(reqs) > 0 {
			if _, err := fmt.Sscan(st, &reqs[len(reqs)-1].status); err != nil {
				return nil, fmt.Errorf("line %d: %q: %v", n, cmd, err)
			}
			continue
		}
		if !strings.HasPrefix(cmd, "curl ") || !strings.Contains(cmd, "/graphql") {
			continue
		}
		r, err := parseCurl(cmd)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", start, err)
		}
		r.line = start
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// parseCurl reads the options of a curl command the docs use: -s, -H, -d
// and -X, with the URL of the server of `make run`.
func parseCurl(cmd string) (docRequest, error) {
	words, err := shellWords(cmd)
	if err != nil {
		return docRequest{}, err
	}
	r := docRequest{method: http.MethodGet, header: http.Header{}}
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if i+1 == len(words) {
				return "", fmt.Errorf("curl: %s needs a value", w)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "-s" || w == "--silent":
		case w == "-H" || w == "--header":
			h, err := next()
			if err != nil {
				return r, err
			}
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return r, fmt.Errorf("curl: header %q has no colon", h)
			}
			r.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case w == "-d" || w == "--data" || w == "--data-raw":
			d, err := next()
			if err != nil {
				return r, err
			}
			r.body, r.method = d, http.MethodPost
		case w == "-w" || w == "--write-out":
			// What curl prints after the body, such as "HTTP %{http_code}":
			// the test compares the status with the `# HTTP N` line.
			f, err := next()
			if err != nil {
				return r, err
			}
			if !strings.Contains(f, "%{http_code}") {
				return r, fmt.Errorf("curl: -w %q prints no status", f)
			}
		case w == "-X" || w == "--request":
			m, err := next()
			if err != nil {
				return r, err
			}
			r.method = m
		case strings.HasPrefix(w, "http://127.0.0.1:8080/"):
			r.path = strings.TrimPrefix(w, "http://127.0.0.1:8080")
		default:
			return r, fmt.Errorf("curl: the test does not know %q", w)
		}
	}
	if r.path == "" {
		return r, fmt.Errorf("curl: no http://127.0.0.1:8080/ URL")
	}
	if r.method == http.MethodPost && r.header.Get("Content-Type") == "" {
		r.header.Set("Content-Type", "application/x-www-form-urlencoded") // curl's default for -d
	}
	return r, nil
}

// shellWords splits a shell command into words as sh does for the quoting
// the docs use: '…' literally, "…" and bare words with $TOKEN left as
// written (docRequest.send substitutes it), and # starting a comment.
func shellWords(cmd string) ([]string, error) {
	var (
		words []string
		w     strings.Builder
		inW   bool
	)
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == ' ' || c == '\t':
			if inW {
				words, inW = append(words, w.String()), false
				w.Reset()
			}
		case c == '#' && !inW:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(cmd[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", cmd)
			}
			w.WriteString(cmd[i+1 : i+1+j])
			i, inW = i+1+j, true
		case c == '"':
			j := strings.IndexByte(cmd[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unclosed \" in %q", cmd)
			}
			w.WriteString(cmd[i+1 : i+1+j])
			i, inW = i+1+j, true
		default:
			w.WriteByte(c)
			inW = true
		}
	}
	if inW {
		words = append(words, w.String())
	}
	return words, nil
}

// docSession runs one document's examples against one server, keeping the
// API tokens the examples mint by the username they act as.
type docSession struct {
	t      *testing.T
	base   string
	tokens map[string]string // by username; "admin" is the first start's
}

// send runs r and returns the HTTP status and the body.
func (s *docSession) send(r docRequest) (int, []byte) {
	s.t.Helper()
	token, ok := s.tokens[r.as]
	if r.as != "" && !ok {
		s.t.Fatalf("line %d: no token for user %q: no example before it minted one", r.line, r.as)
	}
	req, err := http.NewRequest(r.method, s.base+r.path, strings.NewReader(r.body))
	if err != nil {
		s.t.Fatalf("line %d: %v", r.line, err)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, strings.ReplaceAll(v, "$TOKEN", s.tokens["admin"]))
		}
	}
	if r.as != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("line %d: %v", r.line, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("line %d: %v", r.line, err)
	}
	return res.StatusCode, body
}

// learnTokens remembers every API token in an answer's data under the
// username it acts as, asked of the server.
func (s *docSession) learnTokens(data any) {
	s.t.Helper()
	switch v := data.(type) {
	case map[string]any:
		if tok, ok := v["token"].(string); ok && strings.HasPrefix(tok, "gq_") {
			_, name := viewerName(s.t, strings.TrimPrefix(s.base, "http://"), tok)
			if name == "" {
				s.t.Fatalf("the minted token %q answers no viewer", tok)
			}
			s.tokens[name] = tok
		}
		for _, e := range v {
			s.learnTokens(e)
		}
	case []any:
		for _, e := range v {
			s.learnTokens(e)
		}
	}
}

// run runs one example and checks its answer.
func (s *docSession) run(doc string, r docRequest) {
	s.t.Helper()
	status, body := s.send(r)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		s.t.Fatalf("%s:%d: the answer %d %q is not JSON: %v", doc, r.line, status, body, err)
	}
	wantStatus := r.status
	if wantStatus == 0 {
		wantStatus = http.StatusOK
	}
	if status != wantStatus {
		s.t.Fatalf("%s:%d: the example answers HTTP %d %s, want %d", doc, r.line, status, body, wantStatus)
	}
	if r.expected == "" {
		if got["errors"] != nil {
			s.t.Fatalf("%s:%d: the example answers %s, want no errors (or show the error it answers in a json block after it)", doc, r.line, body)
		}
	} else {
		var want any
		if err := json.Unmarshal([]byte(r.expected), &want); err != nil {
			s.t.Fatalf("%s:%d: the response the document shows is not JSON: %v", doc, r.line, err)
		}
		if err := matchJSON("", want, any(got)); err != nil {
			s.t.Fatalf("%s:%d: the example answers\n%s\nwhich is not what the document shows: %v", doc, r.line, indentJSON(body), err)
		}
	}
	s.learnTokens(got["data"])
}

func indentJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// matchJSON reports where got differs from want, with the wildcards of the
// conventions at the top of this file.
func matchJSON(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s = %v, want an object", orRoot(path), got)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s.%s = %v, which the document does not show", orRoot(path), k, g[k])
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s is missing", orRoot(path), k)
			}
			if err := matchJSON(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s = %v, want an array", orRoot(path), got)
		}
		more := false
		if n := len(w); n > 0 {
			if last, ok := w[n-1].(map[string]any); ok && len(last) == 1 && last["…"] != nil {
				w, more = w[:n-1], true
			}
		}
		if len(g) < len(w) || (!more && len(g) != len(w)) {
			return fmt.Errorf("%s has %d elements, want %d", orRoot(path), len(g), len(w))
		}
		for i := range w {
			if err := matchJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	case string:
		g, ok := got.(string)
		if prefix, suffix, wild := strings.Cut(w, "…"); ok && wild {
			if strings.HasPrefix(g, prefix) && strings.HasSuffix(g[len(prefix):], suffix) {
				return nil
			}
		} else if ok && g == w {
			return nil
		}
		return fmt.Errorf("%s = %#v, want %q", orRoot(path), got, w)
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s = %#v, want %#v", orRoot(path), got, want)
		}
		return nil
	}
}

func orRoot(path string) string {
	if path == "" {
		return "the answer"
	}
	return "the answer" + path
}

// TestDocsExamples runs every example of README.md and docs/*.md, in
// order per document, on a fresh database, and checks each answer against
// the response the document shows (the conventions are at the top of this
// file).
func TestDocsExamples(t *testing.T) {
	for _, path := range docFiles(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := filepath.Rel(repoRoot, path)
		blocks, err := parseBlocks(string(src))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		examples, err := docExamples(blocks)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if len(examples) == 0 {
			continue
		}
		t.Run(doc, func(t *testing.T) {
			for _, dialect := range dbtest.Dialects() {
				t.Run(dialect, func(t *testing.T) {
					srv := serveInProcess(t, "--database-url", dbtest.URL(t, dialect), "--log-level", "warn")
					s := &docSession{t: t, base: "http://" + srv.addr, tokens: map[string]string{"admin": srv.adminToken()}}
					if s.tokens["admin"] == "" {
						t.Fatalf("serve printed no token; stdout: %q", srv.stdout.String())
					}
					for _, ex := range examples {
						s.run(doc, ex)
					}
					t.Logf("%s: %d examples run", doc, len(examples))
				})
			}
		})
	}
}

// TestDocsCiteNoOutsideDocument fails on a reference to the product
// specification, a document outside the repository, in the docs, the
// schema (whose descriptions GraphiQL shows), the migrations or the code:
// a reader of the repository cannot follow it. Cite a document under docs/
// or say the thing itself.
func TestDocsCiteNoOutsideDocument(t *testing.T) {
	cite := regexp.MustCompile(`SPEC(\s*\x{00A7}|\.md)`)
	err := filepath.WalkDir(repoRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != repoRoot && (strings.HasPrefix(name, ".") || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".graphqls", ".sql", ".yml":
		default:
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if cite.MatchString(line) {
				rel, _ := filepath.Rel(repoRoot, path)
				t.Errorf("%s:%d cites a document outside the repository: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMatchJSON holds the comparison of TestDocsExamples to its
// conventions, so that a document that differs from the server fails.
func TestMatchJSON(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		ok        bool
	}{
		{"equal", `{"data": {"a": 1, "b": [true, null]}}`, `{"data": {"b": [true, null], "a": 1}}`, true},
		{"other value", `{"data": {"a": 1}}`, `{"data": {"a": 2}}`, false},
		{"string for number", `{"data": {"id": 1}}`, `{"data": {"id": "1"}}`, false},
		{"null for object", `{"data": null}`, `{"data": {"createPage": null}}`, false},
		{"field not shown", `{"data": {"a": 1}}`, `{"data": {"a": 1, "b": 2}}`, false},
		{"field missing", `{"data": {"a": 1, "b": 2}}`, `{"data": {"a": 1}}`, false},
		{"token placeholder", `{"token": "gq_…"}`, `{"token": "gq_3UnQ3cfa"}`, true},
		{"placeholder prefix", `{"token": "gq_…"}`, `{"token": "xx_3UnQ3cfa"}`, false},
		{"placeholder suffix", `{"m": "a … z"}`, `{"m": "a b y"}`, false},
		{"more elements", `[1, 2, {"…": "and more"}]`, `[1, 2, 3, 4]`, true},
		{"more elements, wrong start", `[1, 2, {"…": "and more"}]`, `[1, 3, 4]`, false},
		{"more elements, too few", `[1, 2, {"…": "and more"}]`, `[1]`, false},
		{"extra element", `[1, 2]`, `[1, 2, 3]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.got), &got); err != nil {
				t.Fatal(err)
			}
			if err := matchJSON("", want, got); (err == nil) != tt.ok {
				t.Errorf("matchJSON(%s, %s) = %v, want ok %v", tt.want, tt.got, err, tt.ok)
			}
		})
	}
}

// TestDocExamplesConventions holds the reading of a document's blocks to
// the conventions: which blocks run, as whom, and with what answer.
func TestDocExamplesConventions(t *testing.T) {
	const doc = "# Doc\n\n" +
		"```graphql schema\ntype Query { a: Int }\n```\n\n" +
		"```graphql\n{ viewer { id } }\n```\n\n" +
		"```json status=200\n{\"data\": {\"viewer\": {\"id\": \"1\"}}}\n```\n\n" +
		"```graphql as=bob\n{ viewer { id } }\n```\n\n" +
		"```graphql norun\n{ huge }\n```\n\n" +
		"```go\nfmt.Println()\n```\n\n" +
		"```sh\nmake run\nTOKEN=gq_…\ncurl -s -w 'HTTP %{http_code}' http://127.0.0.1:8080/graphql \\\n" +
		"  -H \"Authorization: Bearer $TOKEN\" -d '{\"query\": \"{ x }\"}'  # a comment\n" +
		"# {\"data\": null}\n# HTTP 415\n```\n\n" +
		"```json output\n{\"not\": \"run\"}\n```\n"
	blocks, err := parseBlocks(doc)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := docExamples(blocks)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Line     int
		As       string
		Method   string
		Path     string
		Auth     string
		Type     string
		Body     string
		Expected string
		Status   int
	}
	var got []summary
	for _, r := range reqs {
		got = append(got, summary{r.line, r.as, r.method, r.path, r.header.Get("Authorization"),
			r.header.Get("Content-Type"), r.body, strings.TrimSpace(r.expected), r.status})
	}
	want := []summary{
		{7, "admin", "POST", "/graphql", "", "application/json", `{"query":"{ viewer { id } }\n"}`, `{"data": {"viewer": {"id": "1"}}}`, 200},
		{15, "bob", "POST", "/graphql", "", "application/json", `{"query":"{ viewer { id } }\n"}`, "", 0},
		{30, "", "POST", "/graphql", "Bearer $TOKEN", "application/x-www-form-urlencoded", `{"query": "{ x }"}`, `{"data": null}`, 415},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docExamples = %+v\nwant %+v", got, want)
	}

	for _, bad := range []string{
		"```json\n{}\n```\n", // a response of nothing
		"```sh\ncurl -s -k http://127.0.0.1:8080/graphql\n```\n", // an option the test does not know
		"```graphql\n{ a }\n", // never closed
	} {
		blocks, err := parseBlocks(bad)
		if err == nil {
			_, err = docExamples(blocks)
		}
		if err == nil {
			t.Errorf("docExamples(%q) = nil error, want one", bad)
		}
	}
}

package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// introspectionFile holds the introspection query the embedded GraphiQL
// sends, as TestGraphiQLInBrowser captures it.
const introspectionFile = "testdata/graphiql-introspection.graphql"

// envScreenshots names a folder into which the browser tests write their
// screenshots (docs/graphiql holds TestGraphiQLInBrowser's committed ones,
// docs/frontend TestFrontendSignsInWithJWT's).
const envScreenshots = "GRANTQL_SCREENSHOTS"

// graphqlRecorder remembers the bodies of the POST requests to /graphql
// and the status of their answers.
type graphqlRecorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	body   []byte
	status int
}

func (rec *graphqlRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/graphql" {
		rec.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rec.next.ServeHTTP(sw, r)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recordedRequest{body: body, status: sw.status})
	rec.mu.Unlock()
}

// introspection returns the query and answer status of the first
// introspection request GraphiQL sent.
func (rec *graphqlRecorder) introspection() (query string, status int, ok bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.reqs {
		var body struct {
			Query         string `json:"query"`
			OperationName string `json:"operationName"`
		}
		if json.Unmarshal(r.body, &body) == nil && body.OperationName == "IntrospectionQuery" {
			return body.Query, r.status, true
		}
	}
	return "", 0, false
}

// TestGraphiQLInBrowser uses the GraphiQL page in a real headless browser
// that can reach nothing but the test server: the page loads from the
// binary alone (no request elsewhere, none failing, no console error),
// its introspection query (the one saved in introspectionFile) is
// answered under the default limits, so the docs explorer shows the
// schema's descriptions, a query typed into the editor with a bearer token
// typed into the headers pane shows the viewer, and the token is not kept
// in the browser's storage (nor can the settings be told to keep it). The server is the real one (NewMux) over
// SQLite: the page's files involve no database, and the query's path
// through the database runs on both in TestViewerOverHTTP.
func TestGraphiQLInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	db := dbtest.Open(t, models.SQLite)
	store := models.NewStore(db)
	bg := context.Background()
	const username = "ada" // the database is fresh
	u, err := store.CreateUser(bg, authz.User{Username: username, IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := store.CreateToken(bg, u.ID, "graphiql", nil)
	if err != nil {
		t.Fatal(err)
	}
	mux, err := graph.NewMux(bg, authz.NewEngine(store), store, db)
	if err != nil {
		t.Fatalf("NewMux() = %v", err)
	}
	rec := &graphqlRecorder{next: mux}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)

	shots := t.TempDir()
	if dir := os.Getenv(envScreenshots); dir != "" {
		shots = dir
	}
	browser := newBrowser(t, chromium)
	problems := newPageProblems(srv.URL)
	// The first call starts the browser; the time limit is on what follows.
	if err := chromedp.Listen(browser, problems.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Generous: a loaded two-core machine renders GraphiQL slowly.
	ctx, cancel := context.WithTimeout(browser, 3*time.Minute)
	t.Cleanup(cancel)
	wait := chromedp.WithPollingTimeout(2 * time.Minute)

	// The page loads and GraphiQL fetches the schema.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-container")),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`)),
	); err != nil {
		t.Fatalf("load the GraphiQL page: %v; problems: %q", err, problems.all())
	}

	// The docs explorer shows Query and, opened, its description and its
	// fields' from the schema.
	const queryDescription = "Questions about users, groups, projects and permissions."
	const viewerDescription = "The signed-in user"
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`)),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name")),
		chromedp.Click(chromedp.CSS(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector(".graphiql-doc-explorer") || {}).innerText?.includes(%q) && document.querySelector(".graphiql-doc-explorer").innerText.includes(%q)`,
			queryDescription, viewerDescription), wait),
	); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("docs explorer: %v; problems: %q; page: %.3000s", err, problems.all(), html)
	}
	screenshot(t, ctx, filepath.Join(shots, "docs-explorer.png"))

	// The settings offer no switch to keep headers in the browser.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Open settings dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-dialog")),
	); err != nil {
		t.Fatalf("open the settings: %v", err)
	}
	settings, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".graphiql-dialog").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(settings, "Theme") || strings.Contains(settings, "Persist headers") {
		t.Errorf("the settings dialog says %q, want its theme and no switch to persist headers", settings)
	}
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(chromedp.CSS(".graphiql-dialog")),
	); err != nil {
		t.Fatalf("close the settings: %v", err)
	}

	// A token typed into the headers pane and a query typed into the
	// editor: the result shows the token's user. The editors close
	// brackets and quotes as they are typed, and type over a closing one.
	query := `{ viewer { username } }`
	headers := `{"Authorization": "Bearer ` + token + `"}`
	selectAll := chromedp.KeyModifiers(chromedp.ModifierCtrl)
	// The headers pane is open (the variables one is hidden beside it).
	const headersEditor = `.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror`
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(headersEditor)),
		chromedp.Click(chromedp.CSS(headersEditor)),
		chromedp.KeyEvent("a", selectAll),
		chromedp.KeyEvent(headers),
		chromedp.Click(chromedp.CSS(`.graphiql-query-editor .CodeMirror`)),
		chromedp.KeyEvent("a", selectAll),
		chromedp.KeyEvent(query),
	); err != nil {
		t.Fatalf("type the query and the headers: %v", err)
	}
	typed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[".graphiql-query-editor .CodeMirror", "`+headersEditor+`"].map(s => document.querySelector(s).CodeMirror.getValue())`))
	if err != nil || len(typed) != 2 || typed[0] != query || typed[1] != headers {
		t.Fatalf("editors hold %q, %v, want %q and %q", typed, err, query, headers)
	}
	var result string
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
	if err == nil {
		result, err = chromedp.Run(ctx, chromedp.Poll[string](`(v => v.includes('"data"') && v)(document.querySelector(".result-window .CodeMirror")?.CodeMirror.getValue() || "")`, wait))
	}
	if err != nil {
		t.Fatalf("run the query: %v; problems: %q", err, problems.all())
	}
	want := `{"data":{"viewer":{"username":"` + username + `"}}}`
	if got := compactJSON(t, result); got != want {
		t.Errorf("GraphiQL's result = %s, want %s", got, want)
	}
	screenshot(t, ctx, filepath.Join(shots, "query-result.png"))

	// The browser keeps the query, and nothing of the token.
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stored, "viewer") {
		t.Errorf("browser storage = %s, want the query kept", stored)
	}
	if strings.Contains(stored, token) || strings.Contains(stored, "Authorization") {
		t.Errorf("browser storage = %s, want nothing of the headers", stored)
	}

	for _, p := range problems.all() {
		t.Errorf("page: %s", p)
	}
	introspection, status, ok := rec.introspection()
	if !ok {
		t.Fatal("GraphiQL sent no IntrospectionQuery")
	}
	if status != http.StatusOK {
		t.Errorf("GraphiQL's introspection query answered %d, want 200", status)
	}
	saved, err := os.ReadFile(introspectionFile)
	if err != nil {
		t.Fatal(err)
	}
	// Compared word for word: how the file is indented does not matter.
	if strings.Join(strings.Fields(introspection), " ") != strings.Join(strings.Fields(string(saved)), " ") {
		if dir := os.Getenv(envScreenshots); dir != "" {
			os.WriteFile(filepath.Join(dir, "introspection.graphql"), []byte(introspection), 0o644)
		}
		t.Errorf("GraphiQL's introspection query differs from %s (update it, and check its depth against the limits):\n%s", introspectionFile, introspection)
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("GraphiQL's result %q is not JSON: %v", s, err)
	}
	return b.String()
}

package graphiql_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/grantql/grantql/graph/graphiql"
)

// TestHandler: the page and every file it names are served from the
// binary with their types, the page names nothing off the server and
// forbids loading from elsewhere, and paths that name no file, folders
// among them, are 404.
func TestHandler(t *testing.T) {
	h := graphiql.Handler()
	get := func(path string) *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Result()
	}
	page := get("/")
	body, _ := io.ReadAll(page.Body)
	if page.StatusCode != http.StatusOK || page.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %s, want 200 text/html", page.StatusCode, page.Header.Get("Content-Type"))
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("GET / Content-Security-Policy = %q, want scripts and everything else from the server only", csp)
	}
	if strings.Contains(string(body), "//") {
		t.Errorf("the page names an address off the server:\n%s", body)
	}
	refs := regexp.MustCompile(`(?:src|href)="(graphiql/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) != 6 {
		t.Errorf("the page names %d files, want 6 (two styles, four scripts)", len(refs))
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	for _, ref := range refs {
		path := "/" + ref[1]
		res := get(path)
		content, _ := io.ReadAll(res.Body)
		want := types[path[strings.LastIndex(path, "."):]]
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != want || len(content) == 0 {
			t.Errorf("GET %s = %d %q, %d bytes, want 200 %q and the file", path, res.StatusCode, res.Header.Get("Content-Type"), len(content), want)
		}
	}
	for _, path := range []string{"/graphiql/", "/graphiql/vendor", "/graphiql/vendor/", "/graphiql/index.html", "/graphiql/nothing.js", "/graphiql/../graphiql.go", "/index.html", "/graphiql/package.json"} {
		if got := get(path).StatusCode; got != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, got)
		}
	}
}

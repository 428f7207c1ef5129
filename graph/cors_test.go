package graph_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

const (
	frontend = "http://localhost:5173" // allowed
	stranger = "https://evil.example"  // not allowed
)

// TestCORS drives cross-origin requests through the real routes (NewMux):
// a preflight from an allowed origin is answered 204 with the exact
// origin, the methods, the headers and a max age; one from any other
// origin, or from any origin when none is configured, is refused (403)
// without an Access-Control-* header; the other responses to an allowed
// origin carry the origin and expose X-Request-Id, refusals included, and
// those to any other origin carry no Access-Control-* header; Vary: Origin
// is on every response when origins are configured; no response allows
// credentials; and a plain OPTIONS of /graphql says which methods it takes.
func TestCORS(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		store := models.NewStore(db)
		engine := authz.NewEngine(store)
		withCORS := serveHarness(t, db, store, engine, graph.WithCORSOrigins([]string{frontend, "https://app.example"}))
		// The same store and superuser, with no origins configured.
		plain, err := graph.NewMux(context.Background(), engine, store, db)
		if err != nil {
			t.Fatalf("NewMux() = %v", err)
		}
		without := &harness{t: t, root: withCORS.root, mux: plain}
		const viewer = `{"query":"{ viewer { username } }"}`
		preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
		allowedPreflight := map[string]string{
			"Access-Control-Allow-Origin":  frontend,
			"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
			"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-Id, Apollo-Require-Preflight, " +
				"X-Apollo-Operation-Name, Apollographql-Client-Name, Apollographql-Client-Version",
			"Access-Control-Max-Age": "7200",
		}
		allowedResponse := map[string]string{"Access-Control-Allow-Origin": frontend, "Access-Control-Expose-Headers": "X-Request-Id"}
		preflightVary := []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
		for _, c := range []struct {
			name    string
			h       *harness
			method  string
			path    string
			origin  string
			headers map[string]string
			token   string // "root": the superuser's; else the header's value as is
			body    string
			status  int
			cors    map[string]string // every Access-Control-* header of the response
			vary    []string
			allow   string // the Allow header
			data    string // a substring of the body
		}{
			{name: "preflight of /graphql, allowed", h: withCORS, method: http.MethodOptions, path: "/graphql", origin: frontend,
				headers: preflight, status: http.StatusNoContent, cors: allowedPreflight, vary: preflightVary},
			{name: "preflight of /healthz, allowed", h: withCORS, method: http.MethodOptions, path: "/healthz", origin: frontend,
				headers: preflight, status: http.StatusNoContent, cors: allowedPreflight, vary: preflightVary},
			{name: "preflight, another origin", h: withCORS, method: http.MethodOptions, path: "/graphql", origin: stranger,
				headers: preflight, status: http.StatusForbidden, vary: preflightVary, data: `"FORBIDDEN"`},
			{name: "preflight, an allowed origin's host over another scheme", h: withCORS, method: http.MethodOptions, path: "/graphql",
				origin: "https://localhost:5173", headers: preflight, status: http.StatusForbidden, vary: preflightVary},
			{name: "preflight, no origins configured", h: without, method: http.MethodOptions, path: "/graphql", origin: frontend,
				headers: preflight, status: http.StatusForbidden, vary: preflightVary},
			{name: "POST, allowed", h: withCORS, method: http.MethodPost, path: "/graphql", origin: frontend, token: "root", body: viewer,
				status: http.StatusOK, cors: allowedResponse, vary: []string{"Origin"}, data: `"root"`},
			{name: "POST with a refused token, allowed: the frontend reads the 401", h: withCORS, method: http.MethodPost, path: "/graphql",
				origin: frontend, token: "Bearer nope", body: viewer, status: http.StatusUnauthorized, cors: allowedResponse,
				vary: []string{"Origin"}, data: `"UNAUTHENTICATED"`},
			{name: "GET /healthz, allowed", h: withCORS, method: http.MethodGet, path: "/healthz", origin: frontend,
				status: http.StatusOK, cors: allowedResponse, vary: []string{"Origin"}},
			{name: "POST, another origin: served, unreadable by its page", h: withCORS, method: http.MethodPost, path: "/graphql",
				origin: stranger, token: "root", body: viewer, status: http.StatusOK, vary: []string{"Origin"}, data: `"root"`},
			{name: "POST without Origin", h: withCORS, method: http.MethodPost, path: "/graphql", token: "root", body: viewer,
				status: http.StatusOK, vary: []string{"Origin"}, data: `"root"`},
			{name: "POST, no origins configured", h: without, method: http.MethodPost, path: "/graphql", origin: frontend,
				token: "root", body: viewer, status: http.StatusOK, data: `"root"`},
			{name: "OPTIONS of /graphql, not a preflight", h: withCORS, method: http.MethodOptions, path: "/graphql",
				status: http.StatusNoContent, vary: []string{"Origin"}, allow: "GET, POST, OPTIONS"},
			{name: "OPTIONS of /graphql, not a preflight, no origins configured", h: without, method: http.MethodOptions, path: "/graphql",
				origin: frontend, status: http.StatusNoContent, allow: "GET, POST, OPTIONS"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
				if c.body != "" {
					r.Header.Set("Content-Type", "application/json")
				}
				if c.origin != "" {
					r.Header.Set("Origin", c.origin)
				}
				for k, v := range c.headers {
					r.Header.Set(k, v)
				}
				switch c.token {
				case "":
				case "root":
					r.Header.Set("Authorization", "Bearer "+c.h.root.Token)
				default:
					r.Header.Set("Authorization", c.token)
				}
				rec := httptest.NewRecorder()
				c.h.mux.ServeHTTP(rec, r)
				req := c.method + " " + c.path + " from " + c.origin
				if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.data) {
					t.Errorf("%s = %d %s, want %d and a body with %s", req, rec.Code, rec.Body, c.status, c.data)
				}
				got := map[string]string{}
				for k := range rec.Header() {
					if strings.HasPrefix(k, "Access-Control-") {
						got[k] = rec.Header().Get(k)
					}
				}
				want := c.cors
				if want == nil {
					want = map[string]string{}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: Access-Control-* headers mismatch (-want +got):\n%s", req, diff)
				}
				var vary []string
				for _, v := range rec.Header().Values("Vary") {
					for _, f := range strings.Split(v, ",") {
						vary = append(vary, strings.TrimSpace(f))
					}
				}
				if !slices.Equal(vary, c.vary) {
					t.Errorf("%s: Vary = %q, want %q", req, vary, c.vary)
				}
				if got := rec.Header().Get("Allow"); got != c.allow {
					t.Errorf("%s: Allow = %q, want %q", req, got, c.allow)
				}
				if rec.Header().Get("X-Request-Id") == "" {
					t.Errorf("%s: no X-Request-Id", req)
				}
			})
		}
	})
}

// TestParseCORSOrigins: exact http(s) origins are taken as browsers send
// them; a wildcard, "null", a path (even "/"), another scheme or a bad
// port is refused, saying why.
func TestParseCORSOrigins(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    []string
		invalid string // a substring of the error
	}{
		{in: "", want: nil},
		{in: "http://localhost:5173", want: []string{"http://localhost:5173"}},
		{in: " https://App.Example.com , http://localhost:5173,,https://app.example.com",
			want: []string{"https://app.example.com", "http://localhost:5173"}},
		{in: "https://app.example:443,http://app.example:80,http://[::1]:8080",
			want: []string{"https://app.example", "http://app.example", "http://[::1]:8080"}},
		{in: "*", invalid: "wildcard"},
		{in: "https://a.example,*", invalid: "wildcard"},
		{in: "null", invalid: "null origin"},
		{in: "https://app.example/", invalid: "trailing /"},
		{in: "https://app.example/graphql", invalid: "no path"},
		{in: "https://app.example?x=1", invalid: "query"},
		{in: "ftp://app.example", invalid: "http:// or https://"},
		{in: "app.example", invalid: "http:// or https://"},
		{in: "https://user@app.example", invalid: "scheme://host[:port]"},
		{in: "https://app.example:0", invalid: "port"},
	} {
		got, err := graph.ParseCORSOrigins(c.in)
		if c.invalid != "" {
			if err == nil || !strings.Contains(err.Error(), c.invalid) {
				t.Errorf("ParseCORSOrigins(%q) = %q, %v, want an error about %q", c.in, got, err, c.invalid)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseCORSOrigins(%q) = %q, %v, want %q", c.in, got, err, c.want)
		}
	}
}

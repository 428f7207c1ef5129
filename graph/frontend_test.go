package graph_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// frontendDir holds the frontend TestFrontendSignsInWithJWT serves: a
// page, its stylesheet and its script, with no inline script.
const frontendDir = "testdata/frontend"

// frontendPort is the port of the simulated frontend: a development
// server's usual one (Vite's), so that its origin is http://localhost:5173.
const frontendPort = 5173

// loggedRequest is a request the grantql server received, with the
// status it answered.
type loggedRequest struct {
	method, path, origin, preflightMethod string
	authorized                            bool
	status                                int
}

// requestLog records every request to the handler it wraps.
type requestLog struct {
	next http.Handler
	mu   sync.Mutex
	reqs []loggedRequest
}

func (l *requestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	l.next.ServeHTTP(sw, r)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, loggedRequest{method: r.Method, path: r.URL.Path, origin: r.Header.Get("Origin"),
		preflightMethod: r.Header.Get("Access-Control-Request-Method"),
		authorized:      r.Header.Get("Authorization") != "", status: sw.status})
}

// from returns the requests sent from origin.
func (l *requestLog) from(origin string) []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedRequest
	for _, r := range l.reqs {
		if r.origin == origin {
			out = append(out, r)
		}
	}
	return out
}

// TestFrontendSignsInWithJWT plays a frontend on http://localhost:5173
// whose user signed in at an identity provider: in a real headless
// browser, its page (served by a server of its own, script in a file of
// its own) calls grantql, on another origin, with the user's JWT as a
// bearer token and shows the project's name and the permissions the user
// holds in it. grantql is the real handler (NewMux) with the IdP's issuer
// configured and the frontend's origin as its one CORS origin, so the
// browser first sends a preflight, which grantql answers, and then lets
// the page read the answer. The same page served from an origin not
// listed (http://127.0.0.1:5173) is refused at the preflight: its fetch
// rejects, the page shows the error, the browser reports the CORS
// failure, and grantql never receives the request with the token. The
// database is SQLite: the JWT callers' and the permissions' paths through
// both databases are tested in TestJWTRefusals and the query tests.
func TestFrontendSignsInWithJWT(t *testing.T) {
	chromium := chromiumPath(t)
	bg, cancelBg := context.WithCancel(context.Background())
	t.Cleanup(cancelBg)

	// The frontend listens on 127.0.0.1:5173 and is loaded as
	// http://localhost:5173. When the port is taken (a developer's Vite,
	// another run of the test), it listens on a free port and its origin
	// is http://localhost:<that port>: only the port differs.
	frontendLn, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", frontendPort))
	if err != nil {
		t.Logf("127.0.0.1:%d is taken (%v): the frontend listens on a free port", frontendPort, err)
		if frontendLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	port := frontendLn.Addr().(*net.TCPAddr).Port
	frontendOrigin := fmt.Sprintf("http://localhost:%d", port)
	// The same server under another name is another origin, not listed.
	otherOrigin := fmt.Sprintf("http://127.0.0.1:%d", port)

	// The identity provider and its issuer "strict", which knows only
	// users linked to it beforehand.
	idp := newTestIDP(t)
	issuer, err := authn.NewIssuer(bg, authn.IssuerConfig{Issuer: idp.issuer("strict"), Audience: testAudience,
		JWKSURL: idp.srv.URL + "/jwks.json"}, idp.srv.Client(), 0)
	if err != nil {
		t.Fatalf("NewIssuer() = %v", err)
	}

	// Fran, linked to her subject at the issuer, holds three permissions
	// in Handbook and another in a second project, which Handbook's list
	// must not show.
	db := dbtest.Open(t, models.SQLite)
	store := models.NewStore(db)
	engine := authz.NewEngine(store)
	const subject = "sub-fran"
	fran, err := store.CreateIdentityUser(bg, idp.issuer("strict"), subject, "fran")
	if err != nil {
		t.Fatal(err)
	}
	handbook, err := engine.CreateProject(bg, "Handbook", 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := engine.CreateProject(bg, "Roadmap", 0)
	if err != nil {
		t.Fatal(err)
	}
	wantPerms := []string{"projects.add_page", "projects.view_page", "projects.view_project"}
	for _, g := range []struct {
		perm    string
		project int64
	}{{wantPerms[2], handbook.ID}, {wantPerms[1], handbook.ID}, {wantPerms[0], handbook.ID}, {"projects.change_page", other.ID}} {
		if err := engine.GrantProjectPerm(bg, authz.Holder{User: fran.ID}, g.perm, g.project); err != nil {
			t.Fatalf("GrantProjectPerm(%s, %d) = %v", g.perm, g.project, err)
		}
	}
	// The token the frontend got from the IdP when Fran signed in.
	jwtToken := idp.sign(t, idp.claims("strict", subject))

	a := authn.New(engine, store, authn.WithIssuers(store, issuer))
	mux, err := graph.NewMux(bg, engine, store, db, graph.WithAuthenticator(a), graph.WithCORSOrigins([]string{frontendOrigin}))
	if err != nil {
		t.Fatalf("NewMux() = %v", err)
	}
	requests := &requestLog{next: mux}
	api := httptest.NewServer(requests)
	t.Cleanup(api.Close)

	// The frontend's server. Its policy allows scripts from its own files
	// only and connections to grantql only.
	files := http.FileServer(http.Dir(frontendDir))
	frontend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src data:; connect-src "+api.URL)
		files.ServeHTTP(w, r)
	}))
	frontend.Listener.Close()
	frontend.Listener = frontendLn
	frontend.Start()
	t.Cleanup(frontend.Close)
	// The fragment hands the page what a sign-in would give it.
	fragment := "#" + url.Values{"api": {api.URL + "/graphql"}, "token": {jwtToken}, "project": {gid(handbook.ID)}}.Encode()

	shots := t.TempDir()
	if dir := os.Getenv(envScreenshots); dir != "" {
		shots = dir
	}
	browser := newBrowser(t, chromium)
	problems := newPageProblems(frontendOrigin, api.URL)
	// The first call starts the browser; the time limit is on what follows.
	if err := chromedp.Listen(browser, problems.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Generous: a loaded two-core machine is slow.
	ctx, cancel := context.WithTimeout(browser, 3*time.Minute)
	t.Cleanup(cancel)
	wait := chromedp.WithPollingTimeout(2 * time.Minute)
	// settled waits for the page to show the project or an error, and
	// returns which ("shown" or "error").
	settled := chromedp.Poll[string](`document.body.dataset.state !== "loading" && document.body.dataset.state`, wait)
	type shown struct {
		Viewer, Name, Error string
		Perms               []string
	}
	const read = `({viewer: document.getElementById("viewer").textContent,
		name: document.getElementById("project-name").textContent,
		error: document.getElementById("error").textContent,
		perms: [...document.querySelectorAll("#permissions li")].map(li => li.textContent)})`

	// Fran's page shows Handbook and exactly her permissions there.
	var state string
	err = chromedp.Do(ctx, chromedp.Navigate(frontendOrigin+"/"+fragment))
	if err == nil {
		state, err = chromedp.Run(ctx, settled)
	}
	if err != nil {
		t.Fatalf("load the frontend: %v; problems: %q", err, problems.all())
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](read))
	if err != nil {
		t.Fatal(err)
	}
	if state != "shown" || got.Viewer != fran.Username || got.Name != handbook.Name || !slices.Equal(got.Perms, wantPerms) {
		t.Errorf("the frontend shows %s %+v, want the viewer %q, the project %q and the permissions %q; problems: %q",
			state, got, fran.Username, handbook.Name, wantPerms, problems.all())
	}
	screenshot(t, ctx, filepath.Join(shots, "signed-in.png"))
	for _, p := range problems.all() {
		t.Errorf("frontend page: %s", p)
	}
	// grantql answered the preflight, then the request with the token.
	var preflights, posts []loggedRequest
	for _, r := range requests.from(frontendOrigin) {
		switch {
		case r.method == http.MethodOptions && r.path == "/graphql":
			preflights = append(preflights, r)
		case r.method == http.MethodPost && r.path == "/graphql":
			posts = append(posts, r)
		}
	}
	if len(preflights) != 1 || preflights[0].status != http.StatusNoContent || preflights[0].preflightMethod != http.MethodPost ||
		preflights[0].authorized || len(posts) != 1 || posts[0].status != http.StatusOK || !posts[0].authorized {
		t.Errorf("grantql received from %s: preflights %+v, POSTs %+v; want one preflight for POST answered 204, then one POST with the token answered 200",
			frontendOrigin, preflights, posts)
	}

	// The same page from an origin not listed: the browser asks, grantql
	// refuses, and the page cannot read grantql's answer.
	tab, cancelTab := chromedp.NewContext(browser)
	t.Cleanup(cancelTab)
	var mu sync.Mutex
	var corsErrors []string
	err = chromedp.Listen(tab, func(ev any) {
		if ev, ok := ev.(*network.EventLoadingFailed); ok && ev.CorsErrorStatus != nil {
			mu.Lock()
			corsErrors = append(corsErrors, string(ev.CorsErrorStatus.CorsError))
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tabCtx, cancelTabCtx := context.WithTimeout(tab, 3*time.Minute)
	t.Cleanup(cancelTabCtx)
	err = chromedp.Do(tabCtx, chromedp.Navigate(otherOrigin+"/"+fragment))
	if err == nil {
		state, err = chromedp.Run(tabCtx, settled)
	}
	if err != nil {
		t.Fatalf("load the frontend from %s: %v", otherOrigin, err)
	}
	refused, err := chromedp.Run(tabCtx, chromedp.Evaluate[shown](read))
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's words for a fetch the network or CORS refused.
	if state != "error" || !strings.Contains(refused.Error, "Failed to fetch") || refused.Name != "" || len(refused.Perms) != 0 {
		t.Errorf("the frontend on %s shows %s %+v, want the fetch's error and nothing of the project", otherOrigin, state, refused)
	}
	mu.Lock()
	if len(corsErrors) == 0 {
		t.Errorf("the browser reported no CORS error for the page on %s", otherOrigin)
	}
	t.Logf("the browser's CORS errors on %s: %q", otherOrigin, corsErrors)
	mu.Unlock()
	fromOther := requests.from(otherOrigin)
	if len(fromOther) != 1 || fromOther[0].method != http.MethodOptions || fromOther[0].status != http.StatusForbidden || fromOther[0].authorized {
		t.Errorf("grantql received from %s: %+v; want only the preflight, refused with 403 (the token never sent)", otherOrigin, fromOther)
	}
}

package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests (TestGraphiQLInBrowser, TestFrontendSignsInWithJWT)
// drive a real headless chromium through chromedp; this file holds what
// they share.

// chromiumPath returns the browser the tests drive. Without one a test
// skips, except under CI, which installs it (.ci/run): there it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: CI installs it (.ci/run) for the browser tests")
	}
	t.Skip("no chromium on PATH: install it to run the browser tests")
	return ""
}

// newBrowser returns the context of a headless chromium at path, started
// by the first action run in it (chromedp.Listen included) and stopped
// when the test ends. The browser reaches nothing but the loopback
// (127.0.0.1 and localhost): every other address goes through a proxy
// that does not exist, and no other name resolves.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	return browser
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// pageProblems collects what must not happen while a page is used: a
// request to anywhere but the given origins, a request that fails or is
// answered with an error status, and an error on the console.
type pageProblems struct {
	origins []string
	mu      sync.Mutex
	urls    map[network.RequestID]string
	list    []string
}

// newPageProblems returns a collector for a page that may send requests
// to origins (and load data: URLs).
func newPageProblems(origins ...string) *pageProblems {
	return &pageProblems{origins: origins, urls: map[network.RequestID]string{}}
}

func (p *pageProblems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *pageProblems) allowed(u string) bool {
	if strings.HasPrefix(u, "data:") {
		return true
	}
	for _, o := range p.origins {
		if u == o || strings.HasPrefix(u, o+"/") {
			return true
		}
	}
	return false
}

func (p *pageProblems) listen(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		u := ev.Request.URL
		p.mu.Lock()
		p.urls[ev.RequestID] = u
		p.mu.Unlock()
		if !p.allowed(u) {
			p.add("request to another origin: %s", u)
		}
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			p.add("%s answered %d", ev.Response.URL, ev.Response.Status)
		}
	case *network.EventLoadingFailed:
		p.mu.Lock()
		u := p.urls[ev.RequestID]
		p.mu.Unlock()
		cors := ""
		if ev.CorsErrorStatus != nil {
			cors = string(ev.CorsErrorStatus.CorsError)
		}
		p.add("request %s failed: %s %s %s", u, ev.ErrorText, ev.BlockedReason, cors)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			p.add("console %s: %s", ev.Type, strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d.Exception != nil {
			p.add("uncaught exception: %s %s", d.Text, d.Exception.Description)
		} else {
			p.add("uncaught exception: %s", d.Text)
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			p.add("browser log error: %s %s", ev.Entry.Text, ev.Entry.URL)
		}
	}
}

func (p *pageProblems) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// screenshot saves a PNG of the browser's window in path.
func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

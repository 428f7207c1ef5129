// Package graphiql serves the GraphiQL page of grantql's API: GraphiQL,
// React and ReactDOM as npm published them (vendor/, refreshed by `make
// graphiql-assets` at the versions of package.json), and a page of grantql's
// own that mounts GraphiQL over the API. Everything is embedded in the
// binary, so the page works without internet.
package graphiql

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed index.html main.js page.css vendor
var files embed.FS

// AssetsPath is the path under which Handler serves the page's scripts and
// styles.
const AssetsPath = "/graphiql/"

// contentSecurityPolicy lets the page load nothing but its own files and
// talk to nothing but its own server: a script or font from elsewhere is
// refused by the browser. GraphiQL sets styles inline and its fonts and
// icons come as data: URLs.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at / and its files under AssetsPath; it answers
// 404 to any other path, and to folders.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := fileName(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			// A folder, or no such file.
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if name == "index.html" {
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}

// fileName returns the embedded file that path names: the page for /, a
// file under AssetsPath otherwise.
func fileName(path string) (string, bool) {
	if path == "/" {
		return "index.html", true
	}
	name, ok := strings.CutPrefix(path, AssetsPath)
	if !ok || name == "index.html" || !fs.ValidPath(name) {
		return "", false
	}
	return name, true
}

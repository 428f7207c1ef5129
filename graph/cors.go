package graph

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cross-origin requests (CORS). A frontend served from another origin
// calls the API from a browser, which lets it read a response only when
// the response names the frontend's origin, and first asks (a preflight:
// OPTIONS with Origin and Access-Control-Request-Method) before a request
// that carries Authorization or a JSON Content-Type. The origins allowed
// are an exact list, empty by default: a preflight from an origin not on
// it is refused with 403 and no Access-Control-* header, and its other
// requests are served without those headers, so that the browser keeps
// the answer from the page.
//
// No Access-Control-Allow-Credentials: grantql's callers authenticate
// with a bearer token that the frontend sets in the Authorization header
// itself, which is not a credential in the CORS sense (cookies, HTTP
// authentication, TLS client certificates are, which a browser adds on
// its own and grantql reads none of). A request with `credentials:
// "include"` is therefore refused by the browser; the frontend sends its
// token without it.

// corsMaxAge is how long a browser may keep a preflight's answer: two
// hours, the most Chromium honours (Firefox takes up to a day). The answer
// changes only when the server's origins do, and the response to the
// request itself is checked again whatever the preflight said.
const corsMaxAge = 2 * time.Hour

// The preflight's lists. The methods are the GraphQL endpoint's; the
// headers are the bearer token's, the request's type, the request id a
// caller may set (X-Request-Id) and those that common GraphQL clients
// (Apollo Client) add. A browser sends Accept without asking.
const (
	corsAllowMethods = "GET, POST, OPTIONS"
	corsAllowHeaders = "Authorization, Content-Type, X-Request-Id, Apollo-Require-Preflight, " +
		"X-Apollo-Operation-Name, Apollographql-Client-Name, Apollographql-Client-Version"
	// corsExposeHeaders are the response headers a frontend may read
	// besides the safelisted ones: the request id, to quote in a report.
	corsExposeHeaders = "X-Request-Id"
)

// WithCORSOrigins lets browsers on origins (exact origins, as
// ParseCORSOrigins returns them) call every route: preflights from them are
// answered, and responses to them carry Access-Control-Allow-Origin. With
// none (the default), no origin is allowed.
func WithCORSOrigins(origins []string) Option {
	return func(o *options) { o.corsOrigins = slices.Clone(origins) }
}

// ParseCORSOrigins parses a comma-separated list of origins, each
// scheme://host[:port] with scheme http or https and nothing after the
// host and port (not even a "/"). It returns them as browsers send them:
// lower case, without the scheme's default port, each once. The wildcard
// "*" is refused. The CORS rules would allow it, as grantql takes no
// credentials in their sense, but the allowed origins are meant to be the
// frontends that call the service, named one by one, and a later sign-in
// by cookie could not keep "*", which the rules forbid with credentials.
// "null" (sandboxed documents, local files) is refused too, as any page
// can send it.
func ParseCORSOrigins(list string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		origin, err := parseOrigin(s)
		if err != nil {
			return nil, fmt.Errorf("CORS origin %q: %w", s, err)
		}
		if !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return out, nil
}

func parseOrigin(s string) (string, error) {
	switch s {
	case "*":
		return "", fmt.Errorf("a wildcard is not allowed; list each origin, such as https://app.example.com")
	case "null":
		return "", fmt.Errorf("the null origin is not allowed: any sandboxed page can send it")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("want scheme://host[:port]")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("want an http:// or https:// origin, such as https://app.example.com")
	case u.Opaque != "" || u.Host == "" || u.User != nil:
		return "", fmt.Errorf("want scheme://host[:port]")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("an origin has no path, query or fragment, not even a trailing /")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q: want 1 to 65535", port)
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = "" // a browser leaves the default port out of Origin
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// cors is the middleware of cross-origin requests, just inside observe so
// that a preflight gets a request id and a log line: it answers every
// preflight itself (204 with the lists for an allowed origin, 403 without
// any Access-Control-* header otherwise), and adds Access-Control-Allow-Origin
// and -Expose-Headers to the other responses to an allowed origin. With
// origins configured, every response says Vary: Origin, as it depends on
// the request's Origin.
func (o *options) cors(next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(o.corsOrigins))
	for _, origin := range o.corsOrigins {
		allowed[origin] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Origin")
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed[origin] {
				writeHTTPError(w, http.StatusForbidden, CodeForbidden,
					"cross-origin requests from this origin are not allowed; the server's CORS origins list those that are")
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if len(allowed) > 0 {
			h.Add("Vary", "Origin")
		}
		if origin != "" && allowed[origin] {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

package graph

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/grantql/grantql/authz"
)

// requestInfo is what the inner layers of a request learn for its log line
// and its metrics: the GraphQL operation, and the viewer who sent it. The
// GraphQL handler fills it on the request's goroutine; observe reads it
// once the request is over.
type requestInfo struct {
	operation string // the operation's name; "" for an anonymous one
	opType    string // query, mutation or subscription; "" before an operation was found
	viewer    int64  // authz.Anonymous without a viewer
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// observe is the outermost middleware of every route: it gives the request
// its id (echoed in X-Request-Id) and, once the request is over, counts it
// in the metrics and writes its log line. The line never holds a header or
// the query string, so that no token or variable can leak into the log.
func (o *options) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		ctx := context.WithValue(withRequestID(w, r), requestInfoKey{}, info)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		elapsed := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		if o.metrics != nil {
			o.metrics.observeRequest(status, info, elapsed)
		}
		if o.logger == nil {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		}
		level := slog.LevelInfo
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			// Probes and scrapes come every few seconds.
			level = slog.LevelDebug
		}
		if info.opType == "" {
			o.logger.LogAttrs(ctx, level, "request", attrs...)
			return
		}
		viewer := "anonymous"
		if info.viewer != authz.Anonymous {
			viewer = strconv.FormatInt(info.viewer, 10)
		}
		operation := info.operation
		if operation == "" {
			operation = "anonymous"
		}
		attrs = append(attrs, slog.String("viewer", viewer), slog.String("operation", operation), slog.String("type", info.opType))
		o.logger.LogAttrs(ctx, level, "request", attrs...)
	})
}

// recoverPanics answers a request whose handler panicked with a bare
// INTERNAL error (500), and logs the panic with its stack and the request
// id. http.ErrAbortHandler is let through: it is how a handler asks the
// server to drop the connection.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			logger.ErrorContext(r.Context(), "panic while serving a request", "panic", p, "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				return // too late for a status: the response is under way
			}
			writeHTTPError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// withDeadline gives every request at most d: the engine's and the store's
// work stops when it passes, and a check cut short answers UNAVAILABLE.
func withDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody refuses a request whose body is larger than limit bytes with
// 413 and a GraphQL error (BAD_USER_INPUT, extensions.limit "body"),
// before anything parses it. It reads the body whole, as the GraphQL
// transport would, so that the refusal comes before authentication and
// the transport never sees a cut body.
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := &LimitError{Limit: LimitBody, Max: limit}
		if r.ContentLength > limit {
			tooLarge.Got = r.ContentLength
			writeLimitError(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeLimitError(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		case err != nil:
			writeHTTPError(w, http.StatusBadRequest, CodeBadUserInput, "could not read the request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status of the response it writes.
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until the header is written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= http.StatusOK {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LogHandler returns a slog handler that adds, to every record logged with
// a request's context, the request's id as request_id; records logged
// without one pass through as they are. Wrapping a handler twice adds the
// id once, even with other handlers between the two (a record that already
// holds a request_id is left as it is), so that a JSON line never holds the
// key twice.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := authz.RequestIDFrom(ctx); id != "" && !hasAttr(r, requestIDKey) {
		r.AddAttrs(slog.String(requestIDKey, id))
	}
	return h.Handler.Handle(ctx, r)
}

// requestIDKey is the key of the request id in log lines.
const requestIDKey = "request_id"

// hasAttr reports whether r holds a top-level attribute named key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
